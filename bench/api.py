"""The API under load: a real server on loopback, concurrent clients, latency percentiles.

Two phases of ``--clients`` concurrent clients, ``--seconds`` each: uploading a photo
of a digit to the route endpoint of the digits demo model, and fetching a cached UMAP
embedding of 10,000 samples (a CIFAR-10-format split written here, routed by an
untrained ResNet-20 whose undecided gates give varied paths). Each client sends its
next request when the previous one is answered. Bounded in count and time; loopback only.
"""

import argparse
import asyncio
import io
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from bench.cifar_files import write_cifar10
from bench.common import cpu_summary, parse_args, pass_fail, print_table
from bench.demo_model import demo_checkpoint, digit_photo, undecided_digits_model

ROUTE_P50_MS = 100
EMBEDDING_P50_MS = 50


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--points", type=int, default=10_000, help="samples in the embedding")
    parser.add_argument("--max-requests", type=int, default=200_000, help="per phase, a bound")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
        build_checkpoint(
            model, bundle.class_names, bundle.preprocessing, {}, {"data_dir": str(root / "data")}, 0
        ),
        run / "checkpoint.pt",
    )


def photo_jpeg() -> bytes:
    out = io.BytesIO()
    digit_photo()[0].convert("RGB").save(out, format="JPEG", quality=90)
    return out.getvalue()


async def load_phase(base: str, clients: int, seconds: float, limit: int, request) -> dict:
    """Closed-loop clients for ``seconds``; latencies of answered requests, errors."""
    latencies, errors, sizes = [], [], []
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:

        async def one_client():
            while time.perf_counter() < deadline and len(latencies) + len(errors) < limit:
                started = time.perf_counter()
                try:
                    response = await request(client)
                except httpx.HTTPError as error:
                    errors.append(repr(error))
                    continue
                if response.status_code != 200:
                    errors.append(f"{response.status_code}: {response.text[:200]}")
                    continue
                latencies.append(time.perf_counter() - started)
                sizes.append(int(response.headers.get("content-length", len(response.content))))

        await asyncio.gather(*(one_client() for _ in range(clients)))
    return {"latencies": latencies, "errors": errors, "sizes": sizes}


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def wait_until_ready(client: httpx.Client, url: str, timeout: float) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = client.get(url)
            if response.status_code == 200:
                return response
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} not ready in {timeout:.0f} s")


def main(argv: Sequence[str] | None = None) -> list[list]:
    args = parse_args(__doc__.splitlines()[0], argv, add_arguments)
    clients, seconds, points = (
        (4, 2.0, 300) if args.tiny else (args.clients, args.seconds, args.points)
    )
    print(f"{clients} clients x {seconds:g} s per phase; {cpu_summary()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        prepare_runs(root, points, args.tiny)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "backend",
                "--runs-dir",
                str(root / "runs"),
                "--port",
                str(port),
                "--no-warmup",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "CODINET_CACHE_DIR": str(root / "cache")},
        )
        try:
            embedding_url = f"/api/models/cifar-{points}/embeddings/umap"
            with httpx.Client(base_url=base, timeout=600) as client:
                wait_until_ready(client, "/api/health", 120)
                wait_until_ready(client, embedding_url, 900)  # computes it once, then cached
                photo = photo_jpeg()
                files = {"file": ("digit.jpg", photo, "image/jpeg")}
                assert client.post("/api/models/digits/route", files=files).status_code == 200

            def route(client):
                return client.post(
                    "/api/models/digits/route", files={"file": ("digit.jpg", photo, "image/jpeg")}
                )

            def embedding(client):
                return client.get(embedding_url)

            results = {}
            for name, request in (("route", route), ("embedding", embedding)):
                results[name] = asyncio.run(
                    load_phase(base, clients, seconds, args.max_requests, request)
                )
                print(
                    f"{name}: {len(results[name]['latencies'])} answered, "
                    f"{len(results[name]['errors'])} errors",
                    flush=True,
                )
        finally:
            server.terminate()
            server.wait(timeout=30)

    rows = []
    for name, target in (("route", ROUTE_P50_MS), ("embedding", EMBEDDING_P50_MS)):
        latencies, errors = results[name]["latencies"], results[name]["errors"]
        p50 = 1e3 * percentile(latencies, 50)
        size = statistics.median(results[name]["sizes"]) / 1024
        label = "POST route (photo)" if name == "route" else f"GET umap, {points} points"
        rows.append(
            [
                label,
                len(latencies),
                f"{len(latencies) / seconds:.0f}",
                f"{p50:.1f}",
                f"{1e3 * percentile(latencies, 95):.1f}",
                f"{size:.1f}",
                len(errors),
                f"<= {target}",
                pass_fail(p50 <= target and not errors),
            ]
        )
        for error in errors[:3]:
            print(f"  {name} error: {error}")
    print()
    print_table(
        [
            "request",
            "answered",
            "per s",
            "p50 ms",
            "p95 ms",
            "response KiB",
            "errors",
            "p50 target ms",
            "target",
        ],
        rows,
    )
    return rows


if __name__ == "__main__":
    main()
