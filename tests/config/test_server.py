"""The gunicorn worker the product is served with (config.server), under real gunicorn."""

import contextlib
import http.client
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def port():
    """gunicorn with one config.server.SyncWorker serving tests/config/echo_app.py."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            *(str(Path(sys.executable).parent / "gunicorn"), "tests.config.echo_app:application"),
            *("--bind", f"127.0.0.1:{port}", "--workers", "1"),
            *("--worker-class", "config.server.SyncWorker", "--log-level", "warning"),
        ],
        cwd=ROOT,
    )
    deadline = time.monotonic() + 30
    while not _answers(port):
        assert server.poll() is None, "gunicorn exited"
        assert time.monotonic() < deadline, "gunicorn did not answer within 30 s"
        time.sleep(0.1)
    yield port
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=30) == 0


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), _connect(port) as sock:
        sock.sendall(_request("/ready"))
        return _read(sock)[0].status == 200
    return False


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=1.5)


def _request(path: str, body: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body.encode())}\r\n\r\n{body}"
    ).encode()


def _read(sock: socket.socket) -> tuple[http.client.HTTPResponse, dict]:
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response, json.loads(response.read())


def test_the_worker_moves_on_while_a_client_keeps_its_connection_open(port):
    # gunicorn's own sync worker waits up to 2 s for this client to close its side; the next
    # client's read times out after 1.5 s.
    with _connect(port) as lingering:
        lingering.sendall(_request("/first"))
        assert _read(lingering)[1]["path"] == "/first"

        with _connect(port) as other:
            other.sendall(_request("/second", '"body"'))
            response, echoed = _read(other)

        assert (response.status, echoed) == (200, {"path": "/second", "body": '"body"'})
        assert response.getheader("Connection") == "close"
        assert lingering.recv(1) == b""  # closed by the server


def test_a_request_sent_during_the_answer_gets_a_graceful_close(port):
    # Closing with the second request unread would make the kernel reset the connection, which
    # can cut the answer short.
    with _connect(port) as sock:
        sock.sendall(_request("/slow", '"one"'))
        time.sleep(0.2)  # read by the server, which is now answering it
        sock.sendall(_request("/b", '"two"'))

        response, echoed = _read(sock)

        assert (response.status, echoed) == (200, {"path": "/slow", "body": '"one"'})
        assert sock.recv(1) == b""  # a FIN, not a reset
