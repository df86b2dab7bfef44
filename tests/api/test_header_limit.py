"""Over-large request heads are refused early with a 431 (issue 11, defect 10): by the protocol
``powerdesk serve`` runs while the head arrives, and by the app for any server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from api import server as api_server
from api.app import create_app
from api.settings import ApiSettings
from tests.api.conftest import Desk, TestClient, assert_error

LIMIT = 8192


@pytest.fixture
def served(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The app under uvicorn with :data:`api.server.PROTOCOL` on 127.0.0.1; yields its port."""
    monkeypatch.setenv("POWERDESK_API_MAX_HEADER_BYTES", str(LIMIT))
    api_server._limit.cache_clear()
    settings = ApiSettings(bid_processes=0, gc_freeze=False, max_header_bytes=LIMIT)
    app = create_app(desk.settings, settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(app, http=api_server.PROTOCOL, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
        api_server._limit.cache_clear()


def _exchange(port: int, head: bytes, chunks: Iterator[bytes]) -> tuple[bytes, int]:
    """Send ``head`` then ``chunks`` until the server stops reading; its reply and bytes sent."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        try:
            conn.sendall(head)
            sent += len(head)
            for chunk in chunks:
                conn.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = b""
        try:
            while data := conn.recv(65536):
                reply += data
        except ConnectionResetError:
            pass
    return reply, sent


def test_a_huge_header_is_refused_while_it_arrives(served: int) -> None:
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
    fifty_mb = (b"a" * 65536 for _ in range(800))
    started = time.monotonic()
    reply, sent = _exchange(served, head, fifty_mb)
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:200]
    assert b'"headers_too_large"' in reply
    assert sent < 20 * 1024 * 1024  # the server stopped reading long before 50 MB
    assert time.monotonic() - started < 10


def test_a_large_body_with_a_small_head_is_not_a_431(served: int) -> None:
    body = b'{"content": "' + b"x" * 40_000 + b'"}'
    head = (
        b"POST /sites HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n"
    )
    reply, _ = _exchange(served, head + body, iter(()))
    assert reply.startswith(b"HTTP/1.1 401 "), reply[:200]  # no key: the app's answer
    health, _ = _exchange(
        served, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", iter(())
    )
    assert health.startswith(b"HTTP/1.1 200 ")


def test_the_app_refuses_a_large_head_under_any_server(client: TestClient) -> None:
    r = client.get("/health", headers={"X-Big": "a" * 70_000})
    err = assert_error(r, 431, "headers_too_large")
    assert "65536" in err["message"]
    assert client.get("/health", headers={"X-Small": "a" * 1000}).status_code == 200


def test_powerdesk_serve_runs_the_limited_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    from cli.serve import serve

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append(kw))
    serve(workers=2)
    assert calls[-1]["http"] == api_server.PROTOCOL
    assert calls[-1]["host"] == "127.0.0.1"
