"""Exposure and event records (validated on construction) and the result of an append.

What belongs here: the row types every event store accepts, their validation rules
(non-empty ids of at most 512 UTF-8 bytes, timezone-aware timestamps, finite values,
``properties`` holding JSON text), and :func:`exposure_id`, the de-duplication key
of an exposure. Frame schemas live in :mod:`abwb.events.frames`.
"""

from __future__ import annotations

import math
from datetime import datetime

import msgspec

from abwb.config.validation import ProblemList, raise_if

__all__ = [
    "MAX_ID_BYTES",
    "MAX_PROPERTIES_BYTES",
    "AppendResult",
    "Event",
    "Exposure",
    "exposure_id",
]

#: Longest id (unit id, event id, exposure id, names) accepted, in UTF-8 bytes.
MAX_ID_BYTES = 512
#: Largest ``properties`` JSON text accepted, in UTF-8 bytes.
MAX_PROPERTIES_BYTES = 64 * 1024


def exposure_id(experiment: str, phase: int, unit_type: str, unit_id: str) -> str:
    """The de-duplication key of an exposure: one per unit, experiment and phase.

    Examples:
        >>> exposure_id("checkout", 2, "user", "u-1")
        'checkout/p2/user/u-1'
    """
    return f"{experiment}/p{phase}/{unit_type}/{unit_id}"


def _check_id(problems: ProblemList, path: str, value: str) -> None:
    if not value:
        problems.add(path, "must not be empty")
        return
    size = len(value.encode("utf-8", errors="surrogatepass"))
    if size > MAX_ID_BYTES:
        problems.add(path, f"must be at most {MAX_ID_BYTES} bytes (UTF-8), got {size}")
    elif "\x00" in value:
        problems.add(path, "must not contain NUL characters")


def _check_time(problems: ProblemList, path: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        problems.add(path, f"must be timezone-aware (UTC), got naive {value.isoformat()}")


class Exposure(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A unit was shown a variant: the denominator of every experiment analysis.

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
        for name in ("exposure_id", "experiment", "variant", "unit_type", "unit_id"):
            _check_id(problems, name, getattr(self, name))
        if not 1 <= self.phase <= 2**31 - 1:
            problems.add("phase", f"must be in [1, 2147483647], got {self.phase}")
        if not 0 <= self.config_version <= 2**63 - 1:
            problems.add("config_version", f"must be >= 0, got {self.config_version}")
        _check_time(problems, "exposed_at", self.exposed_at)
        raise_if(problems)


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
        for name in ("event_id", "unit_type", "unit_id", "name"):
            _check_id(problems, name, getattr(self, name))
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
