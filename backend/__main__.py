"""``python -m backend``: serve the API (and the dashboard) with uvicorn;
``python -m backend extract MODEL``: route a split ahead of serving it (see extract_command.py)."""

import argparse
import errno
import logging
import socket
import sys

import uvicorn
from pydantic import ValidationError

from backend.app import create_app
from backend.connections import server_options
from backend.runs import scan
from backend.settings import Settings, add_setting_arguments, setting_overrides, settings_error
from trainer.execution import DeviceUnavailable
from trainer.models.registry import import_model_modules


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m backend", description=__doc__)
    add_setting_arguments(parser)
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on; 0.0.0.0 for every interface (default: 127.0.0.1)",
    )
    parser.add_argument(
        "--port", type=int, default=8000, help="TCP port to listen on (default: 8000)"
    )
    parser.add_argument(
        "--no-warmup",
        action="store_true",
        help="skip compiling the embedding code (UMAP's numba) at start-up",
    )
    return parser


def port_is_free(host: str, port: int) -> bool:
    """Whether uvicorn will be able to bind the port.

    uvicorn binds with SO_REUSEADDR, so the probe does too: without it, the connections
    a stopped server leaves in TIME_WAIT (for about a minute) would read as a port in
    use, and the server could not restart. A listening socket still takes the port.
    """
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["extract"]:  # route a split ahead of serving it
        from backend.extract_command import main as extract

        return extract(argv[1:])
    args = get_args_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings(
            **setting_overrides(args), **({"warmup": False} if args.no_warmup else {})
        )
        settings.runtime()  # a GPU asked for and missing is said now, not on the first request
        import_model_modules(settings.model_modules)
    except (ValidationError, DeviceUnavailable, ImportError) as error:
        print(f"error: {settings_error(error)}", file=sys.stderr)
        return 2
    if not port_is_free(args.host, args.port):
        print(
            f"error: port {args.port} on {args.host} is in use; pick another with --port",
            file=sys.stderr,
        )
        return 2
    found = scan(settings.runs_dir)[0]
    if not found:
        print(
            f"note: no checkpoints under {settings.runs_dir}/ yet; train one with "
            f"`make train-demo` or `python -m trainer train --out {settings.runs_dir}/NAME`"
        )
    print(
        f"serving {len(found)} model(s) from {settings.runs_dir}/ at "
        f"http://{args.host}:{args.port}/  (API docs: /docs)",
        flush=True,
    )
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level="info",
        **server_options(settings),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
