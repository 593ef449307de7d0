"""Strict request bodies: JSON types must match the schema exactly (no coercion).

What belongs here: :func:`strict_body`, a Litestar guard that re-checks the JSON body of
routes taking ``data`` against its msgspec type in *strict* mode. Litestar converts
bodies leniently (``"flags": 0`` becomes ``False``, ``"limit": "5"`` becomes ``5``);
the OpenAPI schema promises a boolean, and a client sending ``0`` has a bug it should
hear about. Bodies that fail even lenient conversion are left to Litestar, so their
errors keep the usual shape (:mod:`api.errors`). Bodies that are not UTF-8, or are
nested too deeply to decode, are refused here (400) before any decoder recurses.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, ValidationException
from litestar.handlers.base import BaseRouteHandler

__all__ = ["strict_body", "takes_json_body"]

_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
#: Where a handler's (strict, lenient) decoders are memoised (``None``: no body).
_MEMO = "abwb_strict_decoders"


def _decoders(
    handler: BaseRouteHandler,
) -> tuple[msgspec.json.Decoder[Any], msgspec.json.Decoder[Any]] | None:
    if _MEMO not in handler.opt:
        field = handler.parsed_fn_signature.parameters.get("data")
        model = getattr(field, "annotation", None)
        found = None
        if isinstance(model, type) and issubclass(model, msgspec.Struct):
            found = (
                msgspec.json.Decoder(model, strict=True),
                msgspec.json.Decoder(model, strict=False),
            )
        handler.opt[_MEMO] = found
    return handler.opt[_MEMO]  # type: ignore[no-any-return]


def takes_json_body(handler: BaseRouteHandler) -> bool:
    """Whether ``handler`` reads a JSON body (a msgspec ``data`` parameter).

    Args:
        handler: The route handler.

    Returns:
        ``True`` when its ``data`` is a msgspec Struct.
    """
    return _decoders(handler) is not None


async def strict_body(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Litestar guard: refuse (422) a body that only lenient type coercion would accept.

    Raises:
        ValidationException: a value has the wrong JSON type (the field is named).
    """
    decoders = _decoders(handler)
    if decoders is None:
        return
    body = await connection.body()  # type: ignore[attr-defined]  # guards see a Request here
    if not body:
        return
    strict, lenient = decoders
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(
            status_code=400, detail=f"the request body is not valid UTF-8 (byte {exc.start})"
        ) from None
    try:
        strict.decode(body)
    except RecursionError:
        raise HTTPException(
            status_code=400, detail="the request body is nested too deeply"
        ) from None
    except msgspec.ValidationError as exc:
        try:
            lenient.decode(body)
        except Exception:  # Litestar reports it the usual way
            return
        match = _AT.match(str(exc))
        message = match.group("message") if match else str(exc)
        path = (match.group("path") or "").lstrip(".") if match else ""
        raise ValidationException(
            detail=f"Validation failed for {connection.scope.get('method', '')} "
            f"{connection.url.path}",
            extra=[{"message": message, "key": path or "data", "source": "body"}],
        ) from None
    except Exception:  # malformed JSON etc.: Litestar reports it
        return
