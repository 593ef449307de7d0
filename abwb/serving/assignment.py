"""Serving one unit (or many): experiment decisions, flag values, exposures to log.

What belongs here: :class:`Serving`, the online use case behind ``POST /v1/assign``,
``/v1/assign/bulk``, flag evaluation and OFREP, with no HTTP in it. It reads the
in-process config snapshot (never the store), runs the engine through the sticky
assigner, evaluates flags on the same snapshot, decides which decisions are
exposures (those that put the unit in an experiment, experiments and flags alike) and
hands them to the :class:`~abwb.events.exposure_log.ExposureLog`. A web handler parses,
calls one method here and shapes the result.

Order for one unit: the snapshot is read once; experiments are decided (sticky
lookups through the cache, which degrades to deterministic hashing); flags are
evaluated when asked for all experiments; exposures are offered (never blocking).
A bulk call decides every unit from one snapshot, in chunks of
:data:`BULK_CHUNK_UNITS` units, and yields to the event loop between two chunks: single
assignments arriving meanwhile wait for one chunk (about a millisecond), not for the
whole 1,000-unit call. (A worker thread does not achieve that: the thread holds the
GIL for its switch interval of 5 ms at a time, so every turn of the loop waits on it,
and single assignments' p99 went from 4 to 93 ms while bulk calls ran.) Exposures are
offered chunk by chunk, so no burst of thousands of queue puts holds the loop either.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio.lowlevel

from abwb.assignment.decision import AssignmentResult, Decision
from abwb.assignment.hashing import MAX_UNIT_ID_BYTES
from abwb.assignment.sticky import StickyAssigner
from abwb.cache.protocol import AssignmentCache
from abwb.errors import InvalidInput
from abwb.events.exposure_log import ExposureLog
from abwb.events.models import check_unit_id, check_unit_type
from abwb.flags.evaluation import FlagEvaluation
from abwb.snapshot.holder import ConfigSnapshot, ConfigSnapshotHolder

__all__ = [
    "BULK_CHUNK_UNITS",
    "MAX_UNIT_ID_BYTES",
    "FlagsResult",
    "Serving",
    "UnitRequest",
    "UnitResult",
    "check_unit_id",
]

#: Units a bulk call decides between two yields to the event loop (20 targeted
#: experiments: ~40 µs a unit, so ~1 ms a chunk).
BULK_CHUNK_UNITS = 25


#: A unit's result and the decisions among it that are exposures.
_Served = tuple["UnitResult", list[Decision]]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class UnitRequest:
    """One unit to serve.

    Attributes:
        unit_id: The unit.
        unit_type: Kind of unit (``user``, ``device``...).
        attributes: Targeting attributes.
    """

    unit_id: str
    unit_type: str = "user"
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UnitResult:
    """What one unit is served.

    Attributes:
        unit_id: The unit.
        unit_type: Its kind.
        config_version: The snapshot version that decided.
        decisions: Every evaluated experiment's decision.
        flags: Every flag's evaluation (empty when flags were not asked for).
    """

    unit_id: str
    unit_type: str
    config_version: int
    decisions: list[Decision]
    flags: dict[str, FlagEvaluation]


@dataclass(frozen=True, slots=True)
class FlagsResult:
    """Flag evaluations for one unit.

    Attributes:
        config_version: The snapshot version that evaluated.
        flags: Evaluation per flag key.
    """

    config_version: int
    flags: dict[str, FlagEvaluation]


class Serving:
    """The online serving use case over one process's snapshot, cache and exposure log.

    Args:
        snapshot: The in-process config snapshot holder.
        cache: Sticky assignments (and exposure de-dup, through the log).
        exposures: Where served exposures go (off the response path).
        clock: UTC wall clock giving ``now`` of every decision.
    """

    def __init__(
        self,
        snapshot: ConfigSnapshotHolder,
        cache: AssignmentCache,
        exposures: ExposureLog,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.snapshot = snapshot
        self.cache = cache
        self.exposures = exposures
        self.clock = clock
        self._sticky: StickyAssigner | None = None

    def _sticky_assigner(self, snapshot: ConfigSnapshot) -> StickyAssigner:
        """The sticky-aware assigner of ``snapshot`` (memoised per snapshot)."""
        memo = self._sticky
        if memo is None or memo.assigner is not snapshot.assigner:
            memo = self._sticky = StickyAssigner(snapshot.assigner, self.cache)
        return memo

    async def assign(
        self,
        unit: UnitRequest,
        *,
        experiments: Sequence[str] | None = None,
        log_exposure: bool = True,
        with_flags: bool = True,
    ) -> UnitResult:
        """Decide every (or the named) experiment and every flag for one unit.

        Args:
            unit: The unit.
            experiments: Only these experiments (flags are then not evaluated).
            log_exposure: Offer the exposures to the exposure log.
            with_flags: Evaluate flags too.

        Returns:
            The unit's decisions and flag values.

        Raises:
            InvalidInput: an unknown experiment is named, or a unit id cannot be logged
                (:func:`check_unit_id`).
            StorageError: no snapshot is loaded yet.
        """
        check_unit_id(unit.unit_id)
        check_unit_type(unit.unit_type)
        snapshot = self.snapshot.current
        now = self.clock()
        result = await self._sticky_assigner(snapshot).assign(
            unit.unit_id,
            now=now,
            attributes=unit.attributes,
            unit_type=unit.unit_type,
            experiments=experiments,
        )
        served = _served(snapshot, unit, result, now, with_flags and experiments is None)
        if log_exposure:
            self._offer(served, now)
        return served[0]

    async def assign_many(
        self,
        units: Sequence[UnitRequest],
        *,
        experiments: Sequence[str] | None = None,
        log_exposure: bool = True,
        with_flags: bool = True,
        chunk_units: int = BULK_CHUNK_UNITS,
    ) -> tuple[int, list[UnitResult]]:
        """:meth:`assign` for many units, all from one snapshot, yielding between chunks.

        Args:
            units: The units, in order.
            experiments: Only these experiments (flags are then not evaluated).
            log_exposure: Offer the exposures to the exposure log.
            with_flags: Evaluate flags too.
            chunk_units: Units decided between two yields to the event loop (>= 1).

        Returns:
            ``(config_version, results in request order)``; identical whatever the chunk
            size, since every unit is decided from the snapshot current at the call.

        Raises:
            InvalidInput: an unknown experiment is named, a unit id cannot be logged
                (:func:`check_unit_id`), or ``chunk_units`` is below 1.
            StorageError: no snapshot is loaded yet.
        """
        if chunk_units < 1:
            raise InvalidInput(f"must be >= 1, got {chunk_units}", path="chunk_units")
        for i, u in enumerate(units):
            check_unit_id(u.unit_id, f"units[{i}].unit_id")
            check_unit_type(u.unit_type, f"units[{i}].unit_type")
        snapshot = self.snapshot.current
        now = self.clock()
        assign = self._sticky_assigner(snapshot).assign
        flags = with_flags and experiments is None
        results: list[UnitResult] = []
        for start in range(0, len(units), chunk_units):
            if start:
                await anyio.lowlevel.checkpoint()  # let single assignments through
            for u in units[start : start + chunk_units]:
                result = await assign(
                    u.unit_id,
                    now=now,
                    attributes=u.attributes,
                    unit_type=u.unit_type,
                    experiments=experiments,
                )
                served = _served(snapshot, u, result, now, flags)
                if log_exposure:
                    self._offer(served, now)
                results.append(served[0])
        return snapshot.version, results

    def _offer(self, served: _Served, now: datetime) -> None:
        result, exposed = served
        self.exposures.offer(
            exposed,
            unit_id=result.unit_id,
            unit_type=result.unit_type,
            config_version=result.config_version,
            now=now,
        )

    def evaluate_flags(
        self,
        unit_id: str | None,
        attributes: Mapping[str, Any],
        *,
        unit_type: str = "user",
        flags: Sequence[str] | None = None,
        log_exposure: bool = False,
    ) -> FlagsResult:
        """Evaluate every (or the named) flag for one unit; never fails on a bad flag.

        Args:
            unit_id: The unit (``None``: flags that need no unit still answer).
            attributes: Targeting attributes.
            unit_type: Kind of unit.
            flags: Only these flags (unknown ones answer ``FLAG_NOT_FOUND``).
            log_exposure: Offer the exposures of flags that delegate to experiments.

        Returns:
            The evaluations and the snapshot version.

        Raises:
            StorageError: no snapshot is loaded yet.
        """
        if unit_id is not None:
            check_unit_id(unit_id)
        check_unit_type(unit_type)
        snapshot = self.snapshot.current
        now = self.clock()
        evaluator = snapshot.flags
        if flags is None:
            evaluations = evaluator.evaluate_all(unit_id, attributes, now, unit_type=unit_type)
        else:
            evaluations = {
                key: evaluator.evaluate(key, unit_id, attributes, now, unit_type=unit_type)
                for key in flags
            }
        if log_exposure and unit_id is not None:
            self.exposures.offer(
                [ev.decision for ev in evaluations.values() if ev.decision is not None],
                unit_id=unit_id,
                unit_type=unit_type,
                config_version=snapshot.version,
                now=now,
            )
        return FlagsResult(config_version=snapshot.version, flags=evaluations)

    def evaluate_flag(
        self, key: str, unit_id: str | None, attributes: Mapping[str, Any]
    ) -> FlagEvaluation:
        """Evaluate one flag (OpenFeature); never raises on a bad flag.

        Args:
            key: The flag.
            unit_id: The unit (the OpenFeature targeting key).
            attributes: Targeting attributes.

        Returns:
            The evaluation (``FLAG_NOT_FOUND`` for an unknown flag).

        Raises:
            StorageError: no snapshot is loaded yet.
        """
        return self.snapshot.current.flags.evaluate(key, unit_id, attributes, self.clock())


def _served(
    snapshot: ConfigSnapshot,
    unit: UnitRequest,
    result: AssignmentResult,
    now: datetime,
    with_flags: bool,
) -> _Served:
    """The unit's result and the decisions that are exposures (experiments and flags)."""
    decisions = result.decisions  # a fresh list per result: shared, not copied
    exposed = decisions
    flags: dict[str, FlagEvaluation] = {}
    if with_flags:
        flags = snapshot.flags.evaluate_all(
            unit.unit_id, unit.attributes, now, unit_type=unit.unit_type
        )
        delegated = [ev.decision for ev in flags.values() if ev.decision is not None]
        if delegated:
            exposed = [*decisions, *delegated]
    out = UnitResult(
        unit_id=unit.unit_id,
        unit_type=unit.unit_type,
        config_version=result.config_version,
        decisions=decisions,
        flags=flags,
    )
    return out, exposed
