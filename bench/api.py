"""The API under load: a real server on loopback, concurrent clients, latency percentiles.

Two phases of ``--clients`` concurrent clients, ``--seconds`` each: uploading a photo
of a digit to the route endpoint of the digits demo model, and fetching a cached UMAP
embedding of 10,000 samples (a CIFAR-10-format split written here, routed by an
untrained ResNet-20 whose undecided gates give varied paths). Each client sends its
next request when the previous one is answered (wrk, a load generator in C, so the
clients leave the cores to the server). Bounded in time; loopback only.
"""

import argparse
import io
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import httpx

from bench.common import cpu_summary, parse_args, pass_fail, print_table
from bench.demo_model import demo_checkpoint, undecided_digits_model
from bench.server import backend_server, wait_until_ready
from tests.backend_helpers import digit_on_paper
from tests.cifar_files import write_cifar10

ROUTE_P50_MS = 100
EMBEDDING_P50_MS = 50


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--points", type=int, default=10_000, help="samples in the embedding")


def prepare_runs(root: Path, points: int, tiny: bool) -> None:
    """runs/digits (the demo model) and runs/cifar-<points> (untrained, on written files)."""
    import torch

    from trainer.checkpoint import build_checkpoint, save_atomic
    from trainer.data import load_dataset
    from trainer.models import create_model

    runs = root / "runs"
    (runs / "digits").mkdir(parents=True)
    if tiny:
        model, bundle = undecided_digits_model()
        save_atomic(
            build_checkpoint(model, bundle.class_names, bundle.preprocessing, {}, {}, 0),
            runs / "digits" / "checkpoint.pt",
        )
    else:
        shutil.copy(demo_checkpoint(), runs / "digits" / "checkpoint.pt")

    write_cifar10(root / "data", per_batch=2, test_size=points)
    torch.manual_seed(0)
    model = create_model("codinet_resnet20", num_classes=10, gate_open_prob=0.5)
    bundle = load_dataset("cifar10", root / "data")
    run = runs / f"cifar-{points}"
    run.mkdir()
    save_atomic(
        build_checkpoint(model, bundle.class_names, bundle.preprocessing, {}, {}, 0),
        run / "checkpoint.pt",
    )


def photo_jpeg() -> bytes:
    out = io.BytesIO()
    digit_on_paper(0)[0].convert("RGB").save(out, format="JPEG", quality=90)
    return out.getvalue()


LUA_POST = """
local file = io.open("{body}", "rb")
wrk.method = "POST"
wrk.body = file:read("*all")
file:close()
wrk.headers["Content-Type"] = "{content_type}"
"""
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk_phase(
    url: str, clients: int, seconds: float, workdir: Path, upload: bytes | None = None
) -> dict:
    """Closed-loop load from wrk (a C load generator: it leaves the cores to the server)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("bench.api needs wrk (Debian package 'wrk'; `make test` installs it)")
    command = [
        wrk,
        "-t1",
        f"-c{clients}",
        f"-d{max(seconds, 1):.0f}s",
        "--latency",
        "-H",
        "Accept-Encoding: gzip",
    ]
    if upload is not None:
        boundary = "codinet-bench-boundary"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="digit.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
        ).encode()
        body += upload + f"\r\n--{boundary}--\r\n".encode()
        (workdir / "body.bin").write_bytes(body)
        script = LUA_POST.format(
            body=workdir / "body.bin", content_type=f"multipart/form-data; boundary={boundary}"
        )
        (workdir / "post.lua").write_text(script)
        command += ["-s", str(workdir / "post.lua")]
    output = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    return parse_wrk(output)


def parse_wrk(output: str) -> dict:
    percentiles = {
        int(m[1]): float(m[2]) * UNITS[m[3]]
        for m in re.finditer(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
    }
    answered = int(re.search(r"(\d+) requests in", output)[1])
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = (int(bad[1]) if bad else 0) + (sum(map(int, socket.groups())) if socket else 0)
    return {
        "answered": answered,
        "errors": errors,
        "p50": percentiles[50],
        "p90": percentiles[90],
        "per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1]),
    }


def main(argv: Sequence[str] | None = None) -> list[list]:
    args = parse_args(__doc__.splitlines()[0], argv, add_arguments)
    clients, seconds, points = (
        (4, 2.0, 300) if args.tiny else (args.clients, args.seconds, args.points)
    )
    print(f"{clients} clients x {seconds:g} s per phase; {cpu_summary()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        prepare_runs(root, points, args.tiny)
        with backend_server(root / "runs", root / "cache", root / "data", warmup=False) as server:
            base = server.url
            embedding_url = f"/api/models/cifar-{points}/embeddings/umap"
            with httpx.Client(base_url=base, timeout=600) as client:
                wait_until_ready(client, "/api/health", 120)
                wait_until_ready(client, embedding_url, 900)  # computes it once, then cached
                photo = photo_jpeg()
                files = {"file": ("digit.jpg", photo, "image/jpeg")}
                assert client.post("/api/models/digits/route", files=files).status_code == 200

            results = {
                "route": wrk_phase(
                    f"{base}/api/models/digits/route", clients, seconds, root, upload=photo
                ),
                "embedding": wrk_phase(base + embedding_url, clients, seconds, root),
            }
            for name, result in results.items():
                print(
                    f"{name}: {result['answered']} answered, {result['errors']} errors", flush=True
                )
            with httpx.Client(base_url=base, headers={"Accept-Encoding": "gzip"}) as client:
                sizes = {
                    "route": len(client.post("/api/models/digits/route", files=files).content),
                    "embedding": int(client.get(embedding_url).headers["content-length"]),
                }

    rows = []
    for name, target in (("route", ROUTE_P50_MS), ("embedding", EMBEDDING_P50_MS)):
        result = results[name]
        label = "POST route (photo)" if name == "route" else f"GET umap, {points} points"
        rows.append(
            [
                label,
                result["answered"],
                f"{result['per_s']:.0f}",
                f"{result['p50']:.1f}",
                f"{result['p90']:.1f}",
                f"{sizes[name] / 1024:.1f}",
                result["errors"],
                f"<= {target}",
                pass_fail(result["p50"] <= target and not result["errors"]),
            ]
        )
    print()
    print_table(
        [
            "request",
            "answered",
            "per s",
            "p50 ms",
            "p90 ms",
            "gzip KiB",
            "errors",
            "p50 target ms",
            "target",
        ],
        rows,
    )
    return rows


if __name__ == "__main__":
    main()
