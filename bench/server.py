"""A real server for the benchmarks: ``python -m backend`` in its own process on a free
loopback port, as a user starts it, so that its start-up, memory and HTTP stack are
measured too; stopped when the benchmark leaves it."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True)
class Server:
    process: subprocess.Popen
    url: str  # http://127.0.0.1:<port>

    @property
    def pid(self) -> int:
        return self.process.pid


def free_port() -> int:
    """A port nothing listens on now, for the server started next."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def backend_server(
    runs: Path, cache: Path, data: Path | None = None, warmup: bool = True
) -> Iterator[Server]:
    """Serve ``runs`` with its cache in ``cache`` (and datasets from ``data``, where the
    runs were trained on files written here: the server reads datasets from its own data
    folder, never a checkpoint's). Its output is discarded; it is not ready until
    ``wait_until_ready`` says so."""
    port = free_port()
    command = [sys.executable, "-m", "backend", "--runs-dir", str(runs), "--port", str(port)]
    env = {**os.environ, "CODINET_CACHE_DIR": str(cache)}
    if data is not None:
        env["CODINET_DATA_DIR"] = str(data)
    if not warmup:
        command.append("--no-warmup")
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    try:
        yield Server(process, f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(timeout=60)


def wait_until_ready(client: httpx.Client, url: str, timeout: float) -> httpx.Response:
    """GET ``url`` until it answers 200 (a job's 202 is polled again); fails on an error
    status, which polling will not change."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = client.get(url)
        except httpx.HTTPError:  # not listening yet
            response = None
        if response is not None and response.status_code == 200:
            return response
        if response is not None and response.status_code >= 400:  # polling will not help
            raise RuntimeError(f"{url}: {response.status_code} {response.text}")
        time.sleep(0.5)
    raise TimeoutError(f"{url} not ready in {timeout:.0f} s")
