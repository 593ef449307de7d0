"""Checks every request passes before its handler: the ``Host`` name and the media type.

What belongs here: :func:`check_host` (an allowed-hosts check against DNS rebinding:
a hostile page that makes its own domain resolve to 127.0.0.1 still sends its own
name in ``Host``) and :func:`check_media_type` (a route taking a JSON body accepts
only ``application/json`` or a ``+json`` type, so a cross-origin "simple" request —
``text/plain``, form encodings — cannot reach it without a CORS preflight).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from litestar.exceptions import HTTPException

__all__ = ["check_host", "check_media_type", "host_name", "raw_headers"]


def raw_headers(pairs: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """An ASGI scope's headers by (lower-case) name, the first of repeated ones winning.

    What Litestar's ``Headers`` would answer for :func:`check_host` and
    :func:`check_media_type`, without building one (the assignment hot path).

    Examples:
        >>> raw_headers([(b"host", b"a"), (b"content-type", b"x"), (b"host", b"b")])
        {'host': 'a', 'content-type': 'x'}
    """
    ordered = pairs if isinstance(pairs, list) else list(pairs)  # any iterable, per ASGI
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in reversed(ordered)}


#: Methods whose body a handler may read.
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def host_name(header: str) -> str:
    """The host name of a ``Host`` header (lower case, without the port).

    Examples:
        >>> host_name("LocalHost:8000"), host_name("[::1]:8000"), host_name("127.0.0.1")
        ('localhost', '[::1]', '127.0.0.1')
    """
    header = header.strip().lower()
    if header.startswith("["):
        return header[: header.find("]") + 1]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def check_host(headers: Mapping[str, str], accepted: frozenset[str]) -> None:
    """Refuse (400) a request whose ``Host`` is not an accepted name.

    Args:
        headers: The request's headers.
        accepted: Accepted host names (``*`` among them: any).

    Raises:
        HTTPException: 400, naming the header.
    """
    if "*" in accepted:
        return
    name = host_name(headers.get("host", ""))
    if name not in accepted:
        raise HTTPException(
            status_code=400,
            detail=f"Host {name[:80]!r} is not served here; allowed: set ABWB_API_ALLOWED_HOSTS",
        )


def check_media_type(headers: Mapping[str, str], method: str, takes_body: bool) -> None:
    """Refuse (415) a body-carrying request to a JSON route that is not sent as JSON.

    Args:
        headers: The request's headers.
        method: The request's method.
        takes_body: Whether the route reads a JSON body.

    Raises:
        HTTPException: 415, naming the type received and the one expected.
    """
    if not takes_body or method not in _BODY_METHODS:
        return
    raw = headers.get("content-type", "")
    media = raw.split(";", 1)[0].strip().lower()
    if media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    ):
        return
    if not media and headers.get("content-length", "0") == "0":
        return  # no body at all: the handler's own validation answers
    raise HTTPException(
        status_code=415,
        detail=f"Content-Type must be application/json, got {raw[:80]!r}",
    )
