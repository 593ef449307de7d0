"""Pure checks and conversions shared by every store: arguments, documents, versions.

What belongs here: everything a store does without touching its database — which
model a kind holds, how an object becomes a JSON document and back, the messages of
``NotFound`` / ``Conflict`` / ``VersionConflict``, and timestamp conversion to UTC
microseconds. Adapters call these so their behaviour is identical. Domain rules
(archive instead of delete, legal status changes) are not here: see :mod:`abwb.changes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from abwb.errors import Conflict, InvalidInput, NotFound, VersionConflict
from abwb.store.protocol import KIND_MODELS

__all__ = [
    "MAX_PAGE",
    "already_exists",
    "check_actor",
    "check_kind",
    "check_names",
    "check_object",
    "check_page",
    "check_rows",
    "check_time_range",
    "decode_doc",
    "encode_doc",
    "from_micros",
    "not_found",
    "stale_version",
    "to_micros",
    "with_version",
]

#: Largest ``limit`` a list or audit query accepts.
MAX_PAGE = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def check_kind(kind: str) -> type[msgspec.Struct]:
    """The model class of ``kind``.

    Raises:
        InvalidInput: unknown kind (the known ones are listed).

    Examples:
        >>> check_kind("experiment").__name__
        'Experiment'
    """
    model = KIND_MODELS.get(kind)
    if model is None:
        raise InvalidInput(
            f"unknown kind {kind!r}; expected one of {sorted(KIND_MODELS)}", path="kind"
        )
    return model


def check_object(kind: str, obj: Any) -> msgspec.Struct:
    """``obj`` if it is an instance of ``kind``'s model.

    Raises:
        InvalidInput: wrong kind or type.
    """
    model = check_kind(kind)
    if not isinstance(obj, model):
        raise InvalidInput(
            f"a {kind} must be a {model.__name__}, got {type(obj).__name__}", path=kind
        )
    return obj


def check_actor(actor: str) -> None:
    """Every write names who made it (for the audit log).

    Raises:
        InvalidInput: ``actor`` is empty or longer than 256 characters.
    """
    if not isinstance(actor, str) or not actor.strip() or len(actor) > 256:
        raise InvalidInput(
            f"must be a non-empty name of at most 256 characters, got {actor!r}", path="actor"
        )


def check_page(limit: int, offset: int = 0) -> None:
    """Validate paging arguments.

    Raises:
        InvalidInput: ``limit`` outside ``[1, MAX_PAGE]`` or negative ``offset``.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"must be an integer in [1, {MAX_PAGE}], got {limit!r}", path="limit")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidInput(f"must be an integer >= 0, got {offset!r}", path="offset")


def check_time_range(
    since: datetime | None, until: datetime | None
) -> tuple[int | None, int | None]:
    """``since``/``until`` as UTC microseconds (half-open ``[since, until)``).

    Raises:
        InvalidInput: a bound is naive or ``since`` is after ``until``.
    """
    bounds: list[int | None] = []
    for name, value in (("since", since), ("until", until)):
        if value is None:
            bounds.append(None)
            continue
        if not isinstance(value, datetime) or value.utcoffset() is None:
            raise InvalidInput(f"must be a timezone-aware datetime, got {value!r}", path=name)
        bounds.append(to_micros(value))
    low, high = bounds
    if low is not None and high is not None and low > high:
        raise InvalidInput(f"since ({since}) must not be after until ({until})", path="since")
    return low, high


def check_names(names: Sequence[str] | None) -> list[str] | None:
    """Event-name filter as a list (``None`` means all names).

    Raises:
        InvalidInput: ``names`` is a bare string or holds a non-string.
    """
    if names is None:
        return None
    if isinstance(names, str):
        raise InvalidInput(f"must be a list of event names, got the string {names!r}", path="names")
    out = list(names)
    for i, name in enumerate(out):
        if not isinstance(name, str):
            raise InvalidInput(f"must be a string, got {name!r}", path=f"names[{i}]")
    return out


def to_micros(value: datetime) -> int:
    """Microseconds since the Unix epoch of a timezone-aware datetime.

    Examples:
        >>> to_micros(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC))
        1000000
    """
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    """The UTC datetime of microseconds since the Unix epoch (inverse of :func:`to_micros`)."""
    return datetime.fromtimestamp(value // 1_000_000, UTC).replace(microsecond=value % 1_000_000)


def encode_doc(obj: msgspec.Struct) -> bytes:
    """The JSON document stored for an object."""
    return msgspec.json.encode(obj)


def decode_doc(kind: str, doc: bytes | str) -> Any:
    """The object of ``kind`` stored as ``doc``.

    Raises:
        InvalidInput: the stored document no longer decodes (names the kind).
    """
    return msgspec.json.decode(doc, type=check_kind(kind))


def with_version(obj: Any, version: int) -> Any:
    """A copy of ``obj`` carrying ``version``."""
    return msgspec.structs.replace(obj, version=version)


def not_found(kind: str, key: str) -> NotFound:
    """The error for a missing object."""
    return NotFound(f"{kind} {key!r} not found")


def already_exists(kind: str, key: str) -> Conflict:
    """The error for creating an existing key."""
    return Conflict(f"{kind} {key!r} already exists; update it instead")


def stale_version(kind: str, key: str, expected: int, current: int) -> VersionConflict:
    """The error for a stale optimistic-concurrency version."""
    return VersionConflict(
        f"{kind} {key!r} is at version {current}, not the expected {expected}: it changed "
        "since you read it; reload and retry"
    )


def check_rows(rows: Sequence[Any], model: type) -> Sequence[Any]:
    """``rows`` if it is a sequence of ``model`` instances (already validated by construction).

    Raises:
        InvalidInput: not a sequence, or an item of another type (its index named).
    """
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence):
        raise InvalidInput(
            f"must be a list of {model.__name__}, got {type(rows).__name__}", path="rows"
        )
    for i, row in enumerate(rows):
        if not isinstance(row, model):
            raise InvalidInput(
                f"must be a {model.__name__}, got {type(row).__name__}", path=f"rows[{i}]"
            )
    return rows
