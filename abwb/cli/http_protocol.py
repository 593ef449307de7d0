"""The HTTP/1.1 protocol ``abwb serve`` runs: uvicorn's, with each response in one write.

What belongs here: :class:`OneWriteHttpToolsProtocol` (what ``abwb serve`` passes to
uvicorn as ``http=``; :data:`PROTOCOL` names it) and the transport wrapper it uses.

**Why.** uvicorn writes a response's status line and headers when the application sends
``http.response.start``, and the body when it sends ``http.response.body``: two
``send`` system calls, and, as the event loop sets ``TCP_NODELAY``, two TCP segments
for every response. The client's kernel and the client wake for each. Here the head
is held back until the next write on the connection, the body's, and the two leave in
one write: one system call and one segment for a small response. aiohttp does the same
(aio-libs/aiohttp#10991), for the same cost, and because some small clients read a
response with a single ``recv``.

**Always safe.** Holding never reorders or loses bytes: the held head goes out with the
next write, before a close or an end-of-file, and in any case on the event loop's next
turn (a streamed response still waiting for its first chunk, a ``HEAD`` answer, a
``100 Continue``), so nothing waits on it. Only a write that looks like a response
head (``HTTP/`` ... ``CRLF CRLF``) is held; the check decides only when holding pays.

**Measured** (one server process on CPU 0, ``wrk -c16`` on CPU 1, five alternating
4 s runs of each, this protocol against uvicorn's): ``/v1/assign`` on 20 targeted
experiments with ``log_exposure=false`` used 77.5 against 85.6 µs of server CPU per
request and 13.9 against 16.3 µs of wrk's; the bare Litestar endpoint 93.7 against
96.3 µs, and wrk 13.2 against 15.8. ``strace -c`` counts one ``write`` per request
instead of two.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["PROTOCOL", "OneWriteHttpToolsProtocol"]

#: The ``http=`` value ``abwb serve`` gives uvicorn (an import string: it crosses to
#: worker processes as text).
PROTOCOL = "abwb.cli.http_protocol:OneWriteHttpToolsProtocol"

#: Above this many body bytes the head and the body go out by ``writelines`` (one
#: gathered write where the transport supports it) rather than joined into a new
#: bytes object.
_JOIN_LIMIT = 16 * 1024


class _HeadHoldingTransport:
    """A transport that sends a response head with the write that follows it.

    Every method uvicorn's protocol calls is here; anything else goes to the wrapped
    transport unchanged.
    """

    __slots__ = ("_head", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        head = self._head
        if head is not None:
            self._head = None
            if len(data) <= _JOIN_LIMIT:
                self._transport.write(head + data)
            else:
                self._transport.writelines((head, data))
        elif data[-4:] == b"\r\n\r\n" and data[:5] == b"HTTP/":
            self._head = bytes(data)
            self._loop.call_soon(self._flush)
        else:
            self._transport.write(data)

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def _flush(self) -> None:
        head = self._head
        if head is not None:
            self._head = None
            if not self._transport.is_closing():
                self._transport.write(head)

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._head = None
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing each response's head and body together."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Serve the connection through a :class:`_HeadHoldingTransport`."""
        super().connection_made(_HeadHoldingTransport(transport, self.loop))  # type: ignore[arg-type]
