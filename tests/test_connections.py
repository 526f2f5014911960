"""Slow and idle clients cannot hold the server's connections: headers and bodies have
read deadlines, and connections beyond a bound are refused at once."""

import socket
import threading
import time

import httpx
import pytest
import uvicorn

from backend.app import create_app
from backend.connections import server_options
from backend.settings import Settings


@pytest.fixture(scope="module")
def server(untrained_runs, tmp_path_factory):
    """The app under uvicorn with the server's own connection options, tight bounds."""
    settings = Settings(
        runs_dir=untrained_runs,
        cache_dir=tmp_path_factory.mktemp("cache"),
        warmup=False,
        header_timeout_s=1.0,
        body_timeout_s=1.0,
        max_connections=8,
    )
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        **server_options(settings),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield server.servers[0].sockets[0].getsockname()[:2]
    server.should_exit = True
    thread.join(30)


def _connect(address) -> socket.socket:
    sock = socket.create_connection(address, timeout=10)
    return sock


def _closed_within(sock: socket.socket, seconds: float) -> bytes | None:
    """What the server sent before closing, or None if it kept the socket open."""
    sock.settimeout(seconds)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:  # closed with our request unread: refused all the same
        pass
    return received


def test_a_client_that_never_finishes_its_headers_is_cut_off(server):
    sock = _connect(server)
    sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    assert _closed_within(sock, 5) is not None, "a half-sent header held the connection"


def test_the_next_request_on_a_kept_connection_has_the_same_deadline(server):
    sock = _connect(server)
    sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    sock.sendall(b"GET /api/health HTTP/1.1\r\n")  # then nothing more
    assert _closed_within(sock, 4) is not None, "a half-sent second request held it"


def test_a_body_that_stops_arriving_is_a_408_with_a_reason(server):
    sock = _connect(server)
    sock.sendall(
        b"POST /api/models/digits/route HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 5000\r\n\r\n"
        b"--b\r\n"
    )
    received = _closed_within(sock, 6)
    assert received is not None, "a stalled body held the connection"
    assert received.startswith(b"HTTP/1.1 408") and b"did not arrive within 1 s" in received


def test_connections_beyond_the_bound_are_refused_and_others_still_served(server):
    held = [_connect(server) for _ in range(8)]
    for sock in held:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    extra = _connect(server)
    extra.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert _closed_within(extra, 0.5) == b"", "a connection over the bound was served"
    for sock in held:  # the slow ones are cut off in time, then clients get in again
        _closed_within(sock, 5)
    host, port = server
    assert httpx.get(f"http://{host}:{port}/api/health", timeout=10).status_code == 200
