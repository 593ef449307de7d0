"""The hot path: ``POST /v1/assign`` and ``/v1/assign/bulk`` served straight from ASGI.

What belongs here: :class:`HotPath` and :class:`HotPathApp`, the Litestar application
that hands the two assignment routes to it before Litestar routes anything. Litestar's
per-request machinery (routing, the before-request hook, signature model, dependency
resolution, response object) cost several times the engine's own ~40 µs; here the
request is taken in one pass:

1. **admission** — the request is counted in flight from its arrival
   (:class:`~abwb.serving.InFlightLimit`); over ``ABWB_API_MAX_IN_FLIGHT`` it is shed
   at once with 503 + ``Retry-After`` (counted, ``abwb_assign_shed_total``), and so it
   is while the exposure log is saturated (``ExposureLog.saturated``: the store cannot
   keep up, so serving more would drop exposures; ``abwb_assign_shed_exposures_total``);
2. the ``Host`` name, the API key (scope ``assign``, rate limit) and the media type,
   by the same functions the rest of the API uses (:mod:`api.request_checks`,
   :class:`api.auth.Authenticator`);
3. the body, read within ``ABWB_API_MAX_BODY_BYTES`` and decoded once by msgspec in
   strict mode straight into the request Struct;
4. :func:`api.routes.assign.assign_one` / :func:`~api.routes.assign.assign_units`
   (the same parse-call-shape the Litestar handlers run), and the response encoded
   once by msgspec (a bulk response a chunk of results at a time, yielding in between,
   as its units were decided).

Errors keep one shape: a refused check or an error raised while serving is answered
with :func:`api.errors.answer_for`; a body the strict decoder refuses (malformed JSON,
a wrong type, a missing field) or one over the size limit is handed on to Litestar
unchanged (the body replayed, the key not checked twice), whose handler answers it the
usual way. Any other method or path goes to Litestar as well.

**Why admission counts from arrival.** A request decided without awaiting anything
runs start to finish in one step of the event loop, so counting inside the handler
sees one request at a time and never sheds, while the others wait unseen in the
loop's ready queue and the socket. Here a request is counted before it yields once to
the loop: every request that arrived in the same loop iteration is counted before
the first of them is served, so the count is the queue the last one waits behind, and
the wait of an admitted request is bounded by about ``limit`` times the time to serve
one (32 x ~0.2 ms on one core).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException

from api.errors import PROBLEM_MEDIA_TYPE, Overloaded, answer_for
from api.request_checks import check_host, check_media_type, raw_headers
from api.routes.assign import assign_one, assign_units
from api.schemas import AssignRequest, BulkAssignRequest, BulkAssignResponse

if TYPE_CHECKING:
    from abwb.serving import Serving
    from api.app import Services

__all__ = ["ACTOR_KEY", "HotPath", "HotPathApp"]

# Plain ASGI shapes (Litestar's TypedDicts do not narrow on scope["type"]).
Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Where the hot path records the actor it admitted (Litestar's hook then skips the key).
ACTOR_KEY = "abwb_actor"
#: The scope the assignment routes need.
_SCOPE = "assign"
_JSON = [(b"content-type", b"application/json")]
_encode = msgspec.json.Encoder().encode


#: Results of a bulk response encoded between two yields to the event loop (~0.1 ms).
_ENCODE_CHUNK = 25


class _BulkWire(msgspec.Struct, frozen=True):
    """:class:`~api.schemas.BulkAssignResponse` with its results already encoded."""

    config_version: int
    results: list[msgspec.Raw]


async def _encode_one(response: msgspec.Struct) -> bytes:
    return _encode(response)


async def _encode_bulk(response: BulkAssignResponse) -> bytes:
    """A bulk response encoded a chunk of results at a time (2 MB for 1,000 units)."""
    results = response.results
    encoded: list[msgspec.Raw] = []
    for start in range(0, len(results), _ENCODE_CHUNK):
        if start:
            await asyncio.sleep(0)  # let single assignments through
        encoded += [msgspec.Raw(_encode(r)) for r in results[start : start + _ENCODE_CHUNK]]
    return _encode(_BulkWire(response.config_version, encoded))


class _Route(msgspec.Struct, frozen=True):
    decoder: msgspec.json.Decoder[Any]
    serve: Callable[[Serving, Any], Awaitable[Any]]
    encode: Callable[[Any], Awaitable[bytes]]


_ROUTES = {
    "/v1/assign": _Route(msgspec.json.Decoder(AssignRequest, strict=True), assign_one, _encode_one),
    "/v1/assign/bulk": _Route(
        msgspec.json.Decoder(BulkAssignRequest, strict=True), assign_units, _encode_bulk
    ),
}


class _HandOn(Exception):
    """The request goes to Litestar, with the body messages already read."""

    def __init__(self, messages: list[Message]) -> None:
        super().__init__("handed on to Litestar")
        self.messages = messages


class HotPath:
    """Serves the assignment routes from ASGI (see the module docstring for the order).

    Args:
        services: The application's services (serving, auth, in-flight limit...).
        max_body_bytes: Largest body served here (larger ones go to Litestar: 413).
    """

    def __init__(self, services: Services, *, max_body_bytes: int) -> None:
        self.services = services
        self.max_body_bytes = max_body_bytes

    def serves(self, scope: Scope) -> bool:
        """Whether ``scope`` is a request this path takes (``POST`` to an assignment route)."""
        return scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in _ROUTES

    async def __call__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        hand_on: Callable[[Scope, Receive, Send], Awaitable[None]],
    ) -> None:
        """Serve one request, or hand it on to ``hand_on`` (Litestar).

        Args:
            scope: The ASGI scope (one :meth:`serves` accepts).
            receive: The ASGI receive channel.
            send: The ASGI send channel.
            hand_on: The application that answers what this path does not.
        """
        gate = self.services.in_flight
        refusal = None
        if self.services.exposures.saturated:
            gate.refuse()
            refusal = (
                "the exposure log is behind (the store takes exposures more slowly than "
                "they are served)"
            )
        elif not gate.try_enter():
            refusal = f"{gate.limit} assignment requests already in flight (ABWB_API_MAX_IN_FLIGHT)"
        if refusal is not None:
            await _answer(send, scope, Overloaded(f"overloaded: {refusal}; retry shortly"))
            return
        try:
            # Let every request that arrived with this one be counted before any is served.
            await asyncio.sleep(0)
            try:
                await self._serve(scope, receive, send)
            except _HandOn as handed:
                await hand_on(scope, _replay(handed.messages, receive), send)
        finally:
            gate.leave()

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        services = self.services
        connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope)  # type: ignore[arg-type]
        headers = raw_headers(scope["headers"])
        try:
            check_host(headers, services.accepted_hosts)
            scope[ACTOR_KEY] = await services.auth.admit(connection, _SCOPE)
            check_media_type(headers, "POST", True)
        except HTTPException as exc:
            await _answer(send, scope, exc)
            return
        route = _ROUTES[scope["path"]]
        messages = await self._read(headers, receive)
        raw = (
            messages[0].get("body", b"")
            if len(messages) == 1
            else b"".join(m.get("body", b"") for m in messages)
        )
        try:
            raw.decode("utf-8")  # msgspec lets invalid UTF-8 through inside strings
            data = route.decoder.decode(raw)
        except (UnicodeDecodeError, msgspec.ValidationError, msgspec.DecodeError, RecursionError):
            raise _HandOn(messages) from None
        try:
            body = await route.encode(await route.serve(services.serving, data))
        except Exception as exc:  # AbwbError (4xx/503), or a bug (500, logged) as on any route
            await _answer(send, scope, exc)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*_JSON, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _read(self, headers: dict[str, str], receive: Receive) -> list[Message]:
        """The body's messages; anything unusual (too large, a disconnect) is handed on."""
        limit = self.max_body_bytes
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            raise _HandOn([])
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                raise _HandOn(messages)
            size += len(message.get("body", b""))
            if size > limit:
                raise _HandOn(messages)
            if not message.get("more_body", False):
                return messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive channel giving ``messages`` first, then the original channel's."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


async def _answer(send: Send, scope: Scope, exc: Exception) -> None:
    """Send the problem details answering ``exc`` (:func:`api.errors.answer_for`)."""
    problem, headers = answer_for(exc, scope["method"], scope["path"])
    body = msgspec.json.encode(problem)
    raw = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": problem.status, "headers": raw})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class HotPathApp(Litestar):
    """The abwb application: Litestar, with the assignment routes taken by a :class:`HotPath`.

    :meth:`install` sets the hot path once the services exist; until then (and for every
    other request) it is plain Litestar.
    """

    hot_path: HotPath | None = None

    def install(self, hot_path: HotPath) -> None:
        """Serve the assignment routes through ``hot_path``.

        Args:
            hot_path: The hot path of this application's services.
        """
        self.hot_path = hot_path

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """ASGI entry point: the hot path's routes there, the rest to Litestar."""
        hot = self.hot_path
        if hot is not None and hot.serves(scope):
            await hot(scope, receive, send, self._litestar)
            return
        await super().__call__(scope, receive, send)

    async def _litestar(self, scope: Any, receive: Any, send: Any) -> None:
        await Litestar.__call__(self, scope, receive, send)
