"""Soak: mixed traffic for a while, checkpoints replaced, deleted and recreated meanwhile.

A real server on loopback (``python -m backend``, its own connection settings) serves
the demo digits model, ``swap`` (atomically replaced by another version every half
second), ``flaky`` (its checkpoint, or its whole run folder, deleted and recreated) and
``big`` (a ResNet-101 checkpoint of about 165 MB, deleted and recreated every 20 s so
that it loads again and again). ``--clients`` clients send each kind of request in
turn, each the next when the previous is answered. Reported: requests and statuses
per kind, p50 and p99, and the server's resident memory and open file descriptors
after warm-up and at the end. Passes with no 5xx and no connection error.
"""

import argparse
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

import httpx

from bench.api import photo_jpeg
from bench.common import cpu_summary, parse_args, pass_fail, print_table
from bench.server import backend_server, wait_until_ready
from tests.untrained_models import digits_checkpoint

SWAP_S = 0.5  # how often swap is replaced and flaky deleted or recreated
BIG_S = 20.0  # how often big is deleted and written again


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=600.0, help="length of the soak")
    parser.add_argument("--clients", type=int, default=6)


def prepare(root: Path, tiny: bool) -> dict[str, Path]:
    """The runs folder, and the spare checkpoints the churn writes into it."""
    runs, spares = root / "runs", root / "spares"
    for name, seed in (("digits", 0), ("swap", 1), ("flaky", 2)):
        digits_checkpoint(runs / name / "checkpoint.pt", seed)
    digits_checkpoint(spares / "swap-a.pt", 1)
    digits_checkpoint(spares / "swap-b.pt", 3)
    shutil.copy(runs / "flaky" / "checkpoint.pt", spares / "flaky.pt")
    digits_checkpoint(spares / "big.pt", 4, "codinet_resnet20" if tiny else "codinet_resnet101")
    return {"runs": runs, "spares": spares}


def _put(spare: Path, target: Path) -> None:
    """Write a checkpoint as the trainer does: a temporary copy, then a rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(".checkpoint.pt.tmp")
    shutil.copy(spare, tmp)
    os.replace(tmp, target)


def churn(paths: dict[str, Path], stop: threading.Event, counts: Counter) -> None:
    """Replace swap, delete and recreate flaky (file or folder), reload big."""
    runs, spares = paths["runs"], paths["spares"]
    big_at = 0.0
    cycle = 0
    while not stop.wait(SWAP_S):
        cycle += 1
        _put(spares / ("swap-a.pt" if cycle % 2 else "swap-b.pt"), runs / "swap" / "checkpoint.pt")
        counts["swap replaced"] += 1
        flaky = runs / "flaky"
        if cycle % 2:
            if cycle % 4 == 1:
                shutil.rmtree(flaky, ignore_errors=True)
            else:
                (flaky / "checkpoint.pt").unlink(missing_ok=True)
            counts["flaky deleted"] += 1
        else:
            _put(spares / "flaky.pt", flaky / "checkpoint.pt")
            counts["flaky recreated"] += 1
        if time.monotonic() - big_at >= BIG_S:
            shutil.rmtree(runs / "big", ignore_errors=True)
            _put(spares / "big.pt", runs / "big" / "checkpoint.pt")
            big_at = time.monotonic()
            counts["big written"] += 1


def requests(photo: bytes) -> dict[str, tuple]:
    """Each kind of request: method, URL, and the upload if any."""
    files = {"file": ("digit.jpg", photo, "image/jpeg")}
    return {
        "health": ("GET", "/api/health", None),
        "models": ("GET", "/api/models", None),
        "groups": ("GET", "/api/groups", None),
        "upload route": ("POST", "/api/models/digits/route", files),
        "forced route": ("GET", "/api/models/swap/samples/{i}/route?force_path=101010101", None),
        "sample route": ("GET", "/api/models/swap/samples/{i}/route", None),
        "paths csv": ("GET", "/api/models/swap/paths?format=csv", None),
        "embedding": ("GET", "/api/models/swap/embeddings/pca", None),
        "metrics": ("GET", "/api/models/digits/metrics", None),
        "flaky model": ("GET", "/api/models/flaky", None),
        "big model": ("GET", "/api/models/big", None),
    }


def client_loop(base: str, kinds: dict, stop: threading.Event, seen: dict, seed: int) -> None:
    with httpx.Client(base_url=base, timeout=120) as client:
        i = seed
        while not stop.is_set():
            for kind, (method, url, files) in kinds.items():
                if stop.is_set():
                    break
                i = (i + 7) % 300
                started = time.perf_counter()
                try:
                    status = client.request(method, url.format(i=i), files=files).status_code
                except httpx.HTTPError as error:
                    status = type(error).__name__
                seen[kind].append((status, time.perf_counter() - started))


def process_figures(pid: int) -> tuple[float, int]:
    """The server's resident memory (MiB) and open file descriptors."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kib = int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1])
    return rss_kib / 1024, len(os.listdir(f"/proc/{pid}/fd"))


def main(argv: Sequence[str] | None = None) -> list[list]:
    args = parse_args(__doc__.splitlines()[0], argv, add_arguments)
    seconds, clients = (4.0, 2) if args.tiny else (args.seconds, args.clients)
    print(f"{clients} clients x {seconds:g} s; {cpu_summary()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = prepare(root, args.tiny)
        with backend_server(paths["runs"], root / "cache", warmup=False) as server:
            base = server.url
            with httpx.Client(base_url=base, timeout=600) as client:
                wait_until_ready(client, "/api/health", 120)
                wait_until_ready(client, "/api/models/swap/embeddings/pca", 300)
            start = process_figures(server.pid)
            stop, seen, churned = threading.Event(), defaultdict(list), Counter()
            kinds = requests(photo_jpeg())
            threads = [threading.Thread(target=churn, args=(paths, stop, churned))]
            threads += [
                threading.Thread(target=client_loop, args=(base, kinds, stop, seen, n))
                for n in range(clients)
            ]
            for thread in threads:
                thread.start()
            time.sleep(seconds)
            stop.set()
            for thread in threads:
                thread.join(180)
            end = process_figures(server.pid)

    rows, failures = [], 0
    for kind in kinds:
        answers = seen[kind]
        statuses = Counter(status for status, _ in answers)
        bad = sum(n for s, n in statuses.items() if not isinstance(s, int) or s >= 500)
        failures += bad
        times = sorted(t * 1000 for _, t in answers) or [0.0]
        rows.append(
            [
                kind,
                len(answers),
                ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items(), key=str)),
                f"{statistics.median(times):.1f}",
                f"{times[min(len(times) - 1, int(0.99 * len(times)))]:.1f}",
                pass_fail(not bad),
            ]
        )
    total = sum(len(seen[kind]) for kind in kinds)
    print(f"churn: {dict(churned)}")
    print(
        f"server: RSS {start[0]:.0f} -> {end[0]:.0f} MiB, "
        f"open file descriptors {start[1]} -> {end[1]}; {total} requests, "
        f"{failures} 5xx or connection errors"
    )
    print()
    print_table(["request", "answered", "statuses", "p50 ms", "p99 ms", "no 5xx"], rows)
    return rows


if __name__ == "__main__":
    main()
