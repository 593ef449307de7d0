"""A response leaves the server in one write: head and body in one TCP segment.

:mod:`abwb.cli.http_protocol` holds a response's head back until its body is written. What
a client relies on: every response arrives whole and in order (streamed, ``HEAD``,
``Connection: close``, large, malformed-request answers), a head whose body is not
ready yet is not held back, and (the point of it) a small response from the real
``abwb serve`` process reaches the client as one data segment, not two.

Segments are counted by the client's kernel (``TCP_INFO``'s ``tcpi_data_segs_in``,
Linux): exact, not a timing.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from abwb.cli.http_protocol import PROTOCOL

from ..processes import ServeProcess, free_port
from ..waiting import wait_for

KEY = "svc-secret-1"
#: Offset of ``tcpi_data_segs_in`` in Linux's ``struct tcp_info`` (since 4.6).
_DATA_SEGS_IN = 152


def data_segments_received(sock: socket.socket) -> int:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
    return int(struct.unpack_from("<I", info, _DATA_SEGS_IN)[0])


class Responses:
    """``Content-Length`` responses read one by one off a socket (pipelining kept apart)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _receive(self) -> None:
        chunk = self.sock.recv(65536)
        assert chunk, f"connection closed after {self.buffer!r}"
        self.buffer += chunk

    def next(self) -> tuple[bytes, bytes]:
        """The next response's head and body."""
        while b"\r\n\r\n" not in self.buffer:
            self._receive()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(self.buffer) < length:
            self._receive()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return head, body


def request(method: str, path: str, body: bytes = b"", *, key: str | None = KEY) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if key:
        lines.append(f"Authorization: Bearer {key}")
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real ``abwb serve`` process (embedded store, one API key)."""
    home = tmp_path_factory.mktemp("one-write")
    server = ServeProcess(home, {"ABWB_API_KEYS": f"svc:{KEY}:assign", "ABWB_API_AUTH": "auto"})
    try:
        server.start()
        yield server.url
    finally:
        server.stop()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="TCP_INFO layout is Linux's")
def test_each_small_response_of_abwb_serve_is_one_segment(serve: str) -> None:
    port = int(serve.rsplit(":", 1)[1])
    assign = b'{"unit_id":"user-1","attributes":{"country":"US"}}'
    cases = [
        ("assign (hot path)", request("POST", "/v1/assign", assign), b"200"),
        ("bulk assign", request("POST", "/v1/assign/bulk", b'{"units":[{"unit_id":"a"}]}'), b"200"),
        ("health (Litestar route)", request("GET", "/health"), b"200"),
        ("refused key", request("POST", "/v1/assign", assign, key="wrong"), b"401"),
        ("malformed body", request("POST", "/v1/assign", b'{"unit_id":'), b"400"),
    ]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        responses = Responses(sock)
        for name, raw, status in cases * 3:
            before = data_segments_received(sock)
            sock.sendall(raw)
            head, body = responses.next()
            assert head.split(b" ")[1] == status, (name, head, body)
            assert data_segments_received(sock) - before == 1, name


def app_for_edge_cases(release: threading.Event) -> Any:
    """An ASGI app whose paths each exercise one way a response can be written."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        path = scope["path"]
        size = 100_000 if path == "/large" else 5
        body = (b"0123456789" * (size // 10 + 1))[:size]
        headers = [(b"content-type", b"text/plain"), (b"content-length", str(size).encode())]
        if path == "/close":
            headers.append((b"connection", b"close"))
        if path == "/stream":  # chunked: the head now, the body only once released
            await send({"type": "http.response.start", "status": 200, "headers": []})
            while not release.is_set():
                await asyncio.sleep(0.01)
            await send({"type": "http.response.body", "body": b"late", "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


@pytest.fixture
def edge_server() -> Iterator[tuple[int, threading.Event]]:
    release = threading.Event()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app_for_edge_cases(release),
            host="127.0.0.1",
            port=port,
            http=PROTOCOL,
            log_level="warning",
            lifespan="on",
        )
    )
    thread = threading.Thread(target=server.run, name="uvicorn-one-write")
    thread.start()
    try:
        wait_for(lambda: server.started, 30, what="uvicorn to start")
        yield port, release
    finally:
        release.set()
        server.should_exit = True
        thread.join(timeout=30)


def test_a_head_whose_body_is_not_ready_is_sent_at_once(
    edge_server: tuple[int, threading.Event],
) -> None:
    port, release = edge_server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request("GET", "/stream"))
        data = b""
        while b"\r\n\r\n" not in data:  # times out (fails) if the head were held back
            data += sock.recv(65536)
        assert data.startswith(b"HTTP/1.1 200") and b"late" not in data
        release.set()
        while not data.endswith(b"0\r\n\r\n"):
            data += sock.recv(65536)
        assert b"4\r\nlate\r\n0\r\n\r\n" in data


def test_every_response_arrives_whole_and_in_order(
    edge_server: tuple[int, threading.Event],
) -> None:
    port, _ = edge_server
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url, timeout=10) as client:
        for _ in range(3):
            assert client.get("/small").content == b"01234"
            large = client.get("/large")
            assert large.content == (b"0123456789" * 10_001)[:100_000]
            head = client.head("/small")  # a head and no body write after it
            assert head.status_code == 200 and head.headers["content-length"] == "5"
        closing = client.get("/close")
        assert closing.content == b"01234" and closing.headers["connection"] == "close"
        # a head held when the connection closes right after it: sent before the close
        closing_head = client.head("/close")
        assert closing_head.status_code == 200 and closing_head.headers["connection"] == "close"
    # pipelined: two requests in one write, two answers in order on the same connection
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request("GET", "/small") + request("GET", "/large"))
        responses = Responses(sock)
        assert responses.next()[1] == b"01234"
        assert responses.next()[1] == (b"0123456789" * 10_001)[:100_000]
        assert not responses.buffer
    # a request uvicorn cannot parse: its 400 arrives whole, then the connection closes
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"NOT HTTP\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        assert data.startswith(b"HTTP/1.1 400") and data.endswith(b"Invalid HTTP request received.")
