"""A TCP proxy in front of the real PostgreSQL that a fault test cuts or freezes.

The shared server is never touched: the test points its stores at the proxy's port and
kills (``cut``) or stalls (``freeze``) only the proxy. Import it with a relative import,
e.g. ``from ..tcp_proxy import TcpProxy``.
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress
from urllib.parse import urlsplit

__all__ = ["TcpProxy"]


class TcpProxy:
    """Forwards a local port to PostgreSQL; ``cut()`` simulates the server dying.

    ``freeze()`` simulates a server (or network path) that stops answering: the proxy
    keeps every connection open and accepts bytes, but forwards nothing until ``thaw()``.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.down = False
        self.frozen = threading.Event()
        self.thawed = threading.Event()
        self.thawed.set()
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            # The timeout is for connecting only: left on, an idle connection (a LISTEN
            # session, a pooled connection) would be cut after 2 s without traffic.
            upstream.settimeout(None)
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with suppress(OSError):
            while data := src.recv(65536):
                self.thawed.wait()  # frozen: hold the bytes, answer nothing
                dst.sendall(data)
        for s in (src, dst):
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    @classmethod
    def in_front_of(cls, url: str) -> tuple[TcpProxy, str]:
        """A proxy to the server of the database ``url``, and the same URL through it."""
        parts = urlsplit(url)
        proxy = cls(parts.hostname or "127.0.0.1", parts.port or 5432)
        server = f"{parts.hostname}:{parts.port}" if parts.port else f"{parts.hostname}"
        netloc = parts.netloc.replace(server, f"127.0.0.1:{proxy.port}")
        return proxy, parts._replace(netloc=netloc).geturl()

    def cut(self) -> None:
        self.down = True
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for s in sockets:
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def restore(self) -> None:
        self.down = False

    def freeze(self) -> None:
        self.thawed.clear()

    def thaw(self) -> None:
        self.thawed.set()

    def close(self) -> None:
        self.thaw()
        self.cut()
        self.listener.close()
