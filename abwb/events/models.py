"""Exposure and event records (validated on construction) and the result of an append.

What belongs here: the row types every event store accepts, their validation rules
(non-empty ids without NUL of at most 512 UTF-8 bytes, unit ids of at most
:data:`~abwb.assignment.hashing.MAX_UNIT_ID_BYTES` (256), unit types of at most
:data:`MAX_UNIT_TYPE_BYTES` (64), timezone-aware timestamps,
finite values, ``properties`` holding JSON text), and :func:`exposure_id`, the
de-duplication key of an exposure. Frame schemas live in :mod:`abwb.events.frames`.

Two ways to build an :class:`Exposure`. The constructor validates every field: it is
the way in for anything ingested (``POST /v1/events``, files, notebooks).
:meth:`Exposure.from_decision` is the trusted path of the assignment hot path: its
row is built from a :class:`~abwb.assignment.decision.Decision` the engine made over a
validated config snapshot (experiment and variant keys are 1-64 character slugs,
the phase is checked per row) and from unit fields that
:func:`check_served_unit` accepted once for the whole request, so it validates
nothing per field.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Final

import msgspec

from abwb.assignment.decision import Decision
from abwb.assignment.hashing import MAX_UNIT_ID_BYTES
from abwb.config.validation import ProblemList, raise_if

__all__ = [
    "MAX_ID_BYTES",
    "MAX_PHASE",
    "MAX_PROPERTIES_BYTES",
    "MAX_UNIT_TYPE_BYTES",
    "AppendResult",
    "Event",
    "Exposure",
    "check_served_unit",
    "check_unit_id",
    "check_unit_type",
    "exposure_id",
]

#: Longest id (unit id, event id, exposure id, names) accepted, in UTF-8 bytes.
MAX_ID_BYTES = 512
#: Largest ``properties`` JSON text accepted, in UTF-8 bytes.
MAX_PROPERTIES_BYTES = 64 * 1024
#: Longest unit type accepted, in UTF-8 bytes (with :data:`MAX_UNIT_ID_BYTES`, the
#: exposure id of any served decision fits :data:`MAX_ID_BYTES`).
MAX_UNIT_TYPE_BYTES = 64
#: Highest experiment phase an exposure can carry (the stores' 32-bit column).
MAX_PHASE = 2**31 - 1
_MAX_CONFIG_VERSION = 2**63 - 1


def exposure_id(experiment: str, phase: int, unit_type: str, unit_id: str) -> str:
    """The de-duplication key of an exposure: one per unit, experiment and phase.

    Examples:
        >>> exposure_id("checkout", 2, "user", "u-1")
        'checkout/p2/user/u-1'
    """
    return f"{experiment}/p{phase}{_unit_part(unit_type, unit_id)}"


def _unit_part(unit_type: str, unit_id: str) -> str:
    """The unit's part of an :func:`exposure_id` (formatted once for a unit's rows)."""
    return f"/{unit_type}/{unit_id}"


def _check_id(problems: ProblemList, path: str, value: str, limit: int = MAX_ID_BYTES) -> None:
    if not value:
        problems.add(path, "must not be empty")
        return
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        problems.add(path, "must be valid Unicode text (no lone surrogate code points)")
        return
    if size > limit:
        problems.add(path, f"must be at most {limit} bytes (UTF-8), got {size}")
    elif "\x00" in value:
        problems.add(path, "must not contain NUL characters")


def check_unit_id(unit_id: str, path: str = "unit_id") -> None:
    r"""Refuse a unit id that could not be stored: the one rule for serving and ingestion.

    Args:
        unit_id: The unit id.
        path: Where it was given (for the error).

    Raises:
        InvalidInput: it is empty, longer than :data:`MAX_UNIT_ID_BYTES` bytes (UTF-8)
            or holds a NUL character.

    Examples:
        >>> check_unit_id("user-42")
        >>> check_unit_id("a\x00b")
        Traceback (most recent call last):
        abwb.errors.InvalidInput: unit_id: must not contain NUL characters
    """
    problems = ProblemList()
    _check_id(problems, path, unit_id, MAX_UNIT_ID_BYTES)
    raise_if(problems)


def check_unit_type(unit_type: str, path: str = "unit_type") -> None:
    """Refuse a unit type that could not be stored (empty, NUL, over 64 bytes).

    Raises:
        InvalidInput: naming ``path``.
    """
    problems = ProblemList()
    _check_id(problems, path, unit_type, MAX_UNIT_TYPE_BYTES)
    raise_if(problems)


def _check_unit(
    problems: ProblemList, unit_type: str, unit_id: str, config_version: int, at: datetime
) -> None:
    """The rules on an exposure's unit fields."""
    _check_id(problems, "unit_type", unit_type, MAX_UNIT_TYPE_BYTES)
    _check_id(problems, "unit_id", unit_id, MAX_UNIT_ID_BYTES)
    if not 0 <= config_version <= _MAX_CONFIG_VERSION:
        problems.add("config_version", f"must be >= 0, got {config_version}")
    _check_time(problems, "exposed_at", at)


def check_served_unit(unit_type: str, unit_id: str, config_version: int, at: datetime) -> None:
    """Refuse unit fields that :meth:`Exposure.from_decision` must not be given.

    Passing means every exposure of the unit built from an engine decision (experiment
    key of at most 64 bytes, phase at most :data:`MAX_PHASE`) is a row the
    :class:`Exposure` constructor accepts: the fields follow its rules, and the longest
    exposure id (64 + 14 + :data:`MAX_UNIT_TYPE_BYTES` + :data:`MAX_UNIT_ID_BYTES` = 398
    bytes) fits :data:`MAX_ID_BYTES`.

    Raises:
        InvalidInput: with every problem found.

    Examples:
        >>> from datetime import UTC, datetime
        >>> check_served_unit("user", "u-1", 3, datetime(2026, 1, 1, tzinfo=UTC))
        >>> check_served_unit("user", "", 3, datetime(2026, 1, 1, tzinfo=UTC))
        Traceback (most recent call last):
        abwb.errors.InvalidInput: unit_id: must not be empty
    """
    problems = ProblemList()
    _check_unit(problems, unit_type, unit_id, config_version, at)
    raise_if(problems)


def _check_time(problems: ProblemList, path: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        problems.add(path, f"must be timezone-aware (UTC), got naive {value.isoformat()}")


class Exposure(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, gc=False):
    """A unit was shown a variant: the denominator of every experiment analysis.

    Not tracked by the garbage collector (``gc=False``: its fields cannot form a
    cycle): a serving process holds many rows waiting for the store, and tracked they
    would be traversed by every collection they survive.

    Args:
        exposure_id: Unique de-duplication key (see :func:`exposure_id`).
        experiment: Experiment key.
        variant: Variant key served.
        phase: Experiment phase (>= 1).
        unit_type: Kind of unit (``user``, ``device``, ...).
        unit_id: The unit.
        config_version: Config version that made the decision (>= 0).
        exposed_at: When the unit was exposed (timezone-aware).

    Raises:
        InvalidInput: with every problem found.

    Examples:
        >>> from datetime import UTC, datetime
        >>> Exposure(exposure_id="e/p1/user/u", experiment="e", variant="control", phase=1,
        ...          unit_type="user", unit_id="u", config_version=3,
        ...          exposed_at=datetime(2026, 1, 1, tzinfo=UTC)).variant
        'control'
    """

    exposure_id: str
    experiment: str
    variant: str
    phase: int
    unit_type: str
    unit_id: str
    config_version: int
    exposed_at: datetime

    def __post_init__(self) -> None:
        problems = ProblemList()
        for name in ("exposure_id", "experiment", "variant"):
            _check_id(problems, name, getattr(self, name))
        if not 1 <= self.phase <= MAX_PHASE:
            problems.add("phase", f"must be in [1, {MAX_PHASE}], got {self.phase}")
        _check_unit(problems, self.unit_type, self.unit_id, self.config_version, self.exposed_at)
        raise_if(problems)

    @classmethod
    def from_decision(
        cls,
        decision: Decision,
        *,
        unit_type: str,
        unit_id: str,
        config_version: int,
        exposed_at: datetime,
    ) -> Exposure:
        """The row of a served decision, built without validating its fields (trusted).

        Only for a decision the engine made (``decision.variant`` set, phase within
        :data:`MAX_PHASE`) and unit fields :func:`check_served_unit` accepted: then
        the row equals the one the constructor would build and accept, its
        ``exposure_id`` being :func:`exposure_id`'s.

        Args:
            decision: The served decision.
            unit_type: The unit's type.
            unit_id: The unit.
            config_version: The snapshot version that decided.
            exposed_at: When it was served (timezone-aware).

        Examples:
            >>> from datetime import UTC, datetime
            >>> from abwb.assignment.decision import Decision, Reason
            >>> d = Decision(experiment="e", variant="b", reason=Reason.ASSIGNED)
            >>> at = datetime(2026, 1, 1, tzinfo=UTC)
            >>> row = Exposure.from_decision(d, unit_type="user", unit_id="u",
            ...                              config_version=3, exposed_at=at)
            >>> row == Exposure(exposure_id="e/p1/user/u", experiment="e", variant="b",
            ...                 phase=1, unit_type="user", unit_id="u", config_version=3,
            ...                 exposed_at=at)
            True
        """
        return cls.from_decisions(
            [decision],
            unit_type=unit_type,
            unit_id=unit_id,
            config_version=config_version,
            exposed_at=exposed_at,
        )[0]

    @classmethod
    def from_decisions(
        cls,
        served: Iterable[Decision],
        *,
        unit_type: str,
        unit_id: str,
        config_version: int,
        exposed_at: datetime,
    ) -> list[Exposure]:
        """:meth:`from_decision` for each decision of one unit, in order.

        The unit's fields are set once, on a row every other row is copied from, and
        the unit's part of the exposure ids is formatted once.
        """
        # A copy of a valid row with its fields replaced: msgspec runs no __post_init__
        # for a copy, and the fields are set in place (the row is new, nobody holds it).
        unit_row = _copy_template()
        _set(unit_row, "unit_type", unit_type)
        _set(unit_row, "unit_id", unit_id)
        _set(unit_row, "config_version", config_version)
        _set(unit_row, "exposed_at", exposed_at)
        copy = unit_row.__copy__  # type: ignore[attr-defined]
        tail = _unit_part(unit_type, unit_id)
        rows = []
        for decision in served:
            row = copy()
            experiment, phase = decision.experiment, decision.phase
            _set(row, "exposure_id", f"{experiment}/p{phase}{tail}")
            _set(row, "experiment", experiment)
            _set(row, "variant", decision.variant)
            _set(row, "phase", phase)
            rows.append(row)
        return rows


_set = msgspec.structs.force_setattr
#: A copy of a valid row (never changed itself): what :meth:`Exposure.from_decision` fills.
_copy_template: Final[Callable[[], Exposure]] = Exposure(
    exposure_id="-/p1/-/-",
    experiment="-",
    variant="-",
    phase=1,
    unit_type="-",
    unit_id="-",
    config_version=0,
    exposed_at=datetime(2000, 1, 1, tzinfo=UTC),
).__copy__  # type: ignore[attr-defined]


class Event(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Something a unit did (a purchase, a click), the raw material of metrics.

    Args:
        event_id: Client-supplied unique id; re-sending it is a no-op (idempotent).
        unit_type: Kind of unit.
        unit_id: The unit.
        name: Event name (``purchase``).
        value: Optional finite numeric value (revenue, duration).
        occurred_at: When it happened (timezone-aware).
        properties: Optional JSON text (at most 64 KiB).

    Raises:
        InvalidInput: with every problem found.
    """

    event_id: str
    unit_type: str
    unit_id: str
    name: str
    occurred_at: datetime
    value: float | None = None
    properties: str | None = None

    def __post_init__(self) -> None:
        problems = ProblemList()
        for name in ("event_id", "name"):
            _check_id(problems, name, getattr(self, name))
        _check_id(problems, "unit_type", self.unit_type, MAX_UNIT_TYPE_BYTES)
        _check_id(problems, "unit_id", self.unit_id, MAX_UNIT_ID_BYTES)
        if self.value is not None and not math.isfinite(self.value):
            problems.add("value", f"must be finite, got {self.value!r}")
        _check_time(problems, "occurred_at", self.occurred_at)
        if self.properties is not None:
            size = len(self.properties.encode("utf-8", errors="surrogatepass"))
            if size > MAX_PROPERTIES_BYTES:
                problems.add(
                    "properties", f"must be at most {MAX_PROPERTIES_BYTES} bytes, got {size}"
                )
            else:
                try:
                    msgspec.json.decode(self.properties)
                except msgspec.DecodeError as exc:
                    problems.add("properties", f"must be JSON text: {exc}")
        raise_if(problems)


class AppendResult(msgspec.Struct, frozen=True, kw_only=True):
    """Outcome of an append, returned only after the rows are durably committed.

    Args:
        accepted: Rows newly stored.
        duplicates: Rows whose id was already stored or repeated within the batch.
    """

    accepted: int
    duplicates: int
