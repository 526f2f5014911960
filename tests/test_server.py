"""`python -m backend` as a new user starts it: a busy port, and no checkpoints yet."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from backend.__main__ import port_is_free
from tests.backend_helpers import first_answer, free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).parents[1]


def serve(runs_dir: Path, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "backend", "--runs-dir", str(runs_dir), "--port", str(port)]
        + ["--no-warmup"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CODINET_CACHE_DIR": str(runs_dir.parent / "cache")},
    )


def test_a_busy_port_is_a_clear_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = serve(tmp_path / "runs", port)
        _, stderr = server.communicate(timeout=120)
    assert server.returncode == 2
    assert f"port {port} on 127.0.0.1 is in use" in stderr and "--port" in stderr


def test_no_checkpoints_says_how_to_train_one(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    port = free_port()
    server = serve(runs, port)
    try:
        lines = [server.stdout.readline() for _ in range(2)]
        assert "no checkpoints under" in lines[0] and "make train-demo" in lines[0]
        assert f"http://127.0.0.1:{port}/" in lines[1]
        models = first_answer(server, f"http://127.0.0.1:{port}/api/models", timeout=60)
        assert models.status_code == 200 and models.json() == []
        health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5).json()
        assert health["runs_dir"] == str(runs)  # the page names it in its how-to-train note
    finally:
        server.terminate()
        server.wait(timeout=30)


def port_in_time_wait() -> int:
    """A loopback port whose last connection waits in TIME_WAIT, as after a restart."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn's
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            served, _ = listener.accept()
            served.close()  # the server's side closes first: it is the one that waits
            assert client.recv(1) == b""
    with socket.socket() as plain, pytest.raises(OSError):
        plain.bind(("127.0.0.1", port))  # without SO_REUSEADDR the port is still taken
    return port


def test_a_port_in_time_wait_is_free_and_a_listening_one_is_not():
    port = port_in_time_wait()
    assert port_is_free("127.0.0.1", port)  # uvicorn binds with SO_REUSEADDR: so may we
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert not port_is_free("127.0.0.1", taken.getsockname()[1])
