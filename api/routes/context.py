"""What a handler needs from its request: the services, the actor, a worker thread, ETags.

What belongs here: small request-level plumbing shared by the route modules —
reaching :class:`~api.app.Services`, naming the actor recorded in the audit log,
running a synchronous store call off the event loop, and the ETag / ``If-Match``
rules (an object's ETag is its version: ``"v3"``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import anyio
from litestar import Request
from litestar.params import HeaderParameter, PathParameter

from abwb.errors import InvalidInput
from api.errors import PreconditionRequired
from api.schemas import KEY_REGEX

if TYPE_CHECKING:
    from api.app import Services

__all__ = [
    "IF_MATCH_PATTERN",
    "ConfigKey",
    "IfMatch",
    "RequiredIfMatch",
    "actor_of",
    "etag",
    "expected_version",
    "in_thread",
    "services_of",
]

_ETAG = re.compile(r'^\s*(?:W/)?"v(\d{1,18})"\s*$')

#: A config object's key in a path (the config's own key rule, anchored).
ConfigKey = Annotated[
    str,
    PathParameter(
        pattern=KEY_REGEX,
        min_length=1,
        max_length=64,
        description="The object's key: lower-case letters, digits, `_`, `.`, `-` (1-64).",
    ),
]
#: What :func:`expected_version` accepts in ``If-Match`` (its 422 names the header
#: plainly): one ETag this API issued, or ``*``. The pattern bounds the length.
IF_MATCH_PATTERN = r'^(?:(?:W/)?"v[0-9]{1,18}"|[*])$'
_IF_MATCH_TEXT = 'ETag from a GET, e.g. "v3" (412 when stale), or * for whatever is stored.'
#: The ``If-Match`` header of a conditional write: an ETag from a GET, or ``*``.
IfMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match", schema_extra={"pattern": IF_MATCH_PATTERN}, description=_IF_MATCH_TEXT
    ),
]
#: ``If-Match`` where it is required (``PATCH``: 428 without it). Typed optional so the
#: handler, not Litestar, answers a missing header (428 with the reason, not a 400).
RequiredIfMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match",
        required=True,
        schema_extra={"pattern": IF_MATCH_PATTERN},
        description=_IF_MATCH_TEXT + " Required: 428 without it.",
    ),
]


def services_of(request: Request[Any, Any, Any]) -> Services:
    """The application's services."""
    return request.app.state.services  # type: ignore[no-any-return]


def actor_of(request: Request[Any, Any, Any]) -> str:
    """Who is acting, for the audit log: the API key's name, or ``anonymous``."""
    return str(request.scope.get("abwb_actor", "anonymous"))


async def in_thread[T](fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run a synchronous (store) call in a worker thread."""
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))


def etag(version: int) -> str:
    """The ETag of an object at ``version``.

    Examples:
        >>> etag(3)
        '"v3"'
    """
    return f'"v{version}"'


def expected_version(if_match: str | None, *, required: bool) -> int | None:
    """The version an ``If-Match`` header asks for (``None``: unconditional).

    Raises:
        PreconditionRequired: ``required`` and the header is missing (428).
        InvalidInput: the header is not an ETag this API issued.

    Examples:
        >>> expected_version('"v7"', required=True)
        7
    """
    if if_match is None or if_match.strip() == "*":
        if required and if_match is None:
            raise PreconditionRequired(
                "this request must be conditional: send If-Match with the ETag from a GET "
                '(e.g. If-Match: "v3") so concurrent edits are not lost'
            )
        return None
    match = _ETAG.match(if_match)
    if match is None:
        raise InvalidInput(f'must be an ETag like "v3", got {if_match[:40]!r}', path="If-Match")
    return int(match.group(1))
