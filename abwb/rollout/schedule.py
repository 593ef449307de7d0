"""Where a rollout stands: its step and traffic fraction at a given time, and who is in.

Everything here is pure: the clock is an argument. A rollout's progress is anchored at
``(step_index, step_started_at)`` (the start of the rollout unless
:func:`~abwb.rollout.transitions.advance` moved it); from there:

- a step held for a time (``hold_s``) ends when that much *active* time has passed —
  time spent paused is not counted — so every process computes the same step from
  the same config and clock;
- a step held for a sample (``min_units``, alone or with ``hold_s``) is only left when
  the monitoring job, which counts units, calls ``advance`` and stores the result. The
  evaluator cannot see unit counts, so it never passes a sample gate on its own.

Inclusion is one hash per rollout: ``bucket(rollout.effective_salt, unit_id) <
traffic_fraction * 10000``. Raising the fraction only adds units (monotone ramps).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from abwb.assignment.hashing import BUCKETS, bucket
from abwb.config.rollout import Rollout, RolloutStep

__all__ = ["RolloutPhase", "RolloutState", "includes", "rollout_state", "step_progress"]

#: Derived status: ``waiting`` = a step's sample gate blocks progress until ``advance``.
RolloutPhase = Literal[
    "draft", "scheduled", "active", "waiting", "paused", "completed", "rolled_back"
]


@dataclass(frozen=True, slots=True)
class RolloutState:
    """A rollout at one instant.

    Attributes:
        step_index: Current step (0-based); ``-1`` before the rollout has started.
        traffic_fraction: Share of units (0 to 1) that get the rollout's variation now.
        next_step_at: When the next step begins on the clock, if known (``None`` at the
            last step, while paused, or when a sample gate decides).
        status: ``draft``/``scheduled`` (not started: fraction 0), ``active``,
            ``waiting`` (a ``min_units`` gate holds the step), ``paused`` (frozen),
            ``completed`` (fraction 1) or ``rolled_back`` (fraction 0).
        units_needed: The sample gate of the current step, when it has one.
    """

    step_index: int
    traffic_fraction: float
    next_step_at: datetime | None
    status: RolloutPhase
    units_needed: int | None = None


def _active_seconds(rollout: Rollout, anchor_at: datetime, now: datetime) -> float:
    """Seconds since the anchor that count toward holds (paused time excluded)."""
    until = rollout.paused_at if rollout.paused_at is not None else now
    return max(0.0, (until - anchor_at).total_seconds() - rollout.paused_s)


def _gate_met(step: RolloutStep, held_s: float, units_seen: int | None) -> bool:
    if step.hold_s is not None and held_s < step.hold_s:
        return False
    return step.min_units is None or (units_seen is not None and units_seen >= step.min_units)


def rollout_state(
    rollout: Rollout, now: datetime, *, units_seen: int | None = None
) -> RolloutState:
    """The step and traffic fraction of ``rollout`` at ``now``.

    Args:
        rollout: The rollout (its status, steps and progress anchor).
        now: Current time (timezone-aware).
        units_seen: Units exposed since the current anchor step began, if known (the
            monitoring job knows it; the evaluator does not). Only the anchor step's
            sample gate can be passed with it; later steps wait for ``advance``.

    Returns:
        The derived state; ``traffic_fraction`` is 0 unless started and not rolled back.

    Examples:
        >>> from datetime import UTC, datetime, timedelta
        >>> from abwb.config import Rollout, RolloutStep
        >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
        >>> r = Rollout(key="r", flag_key="f", variation="on", status="active", started_at=t0,
        ...     steps=[RolloutStep(traffic_fraction=0.05, hold_s=3600),
        ...            RolloutStep(traffic_fraction=0.25, hold_s=3600),
        ...            RolloutStep(traffic_fraction=1.0)])
        >>> s = rollout_state(r, t0 + timedelta(minutes=90))
        >>> s.step_index, s.traffic_fraction, s.next_step_at.isoformat()
        (1, 0.25, '2026-01-01T02:00:00+00:00')
    """
    if rollout.status == "completed":
        return RolloutState(len(rollout.steps) - 1, 1.0, None, "completed")
    if rollout.status == "rolled_back":
        return RolloutState(rollout.step_index, 0.0, None, "rolled_back")
    started = rollout.started_at
    if rollout.status == "draft" or started is None:
        return RolloutState(-1, 0.0, started, "draft")
    if now < started:
        return RolloutState(-1, 0.0, started, "scheduled")
    index, in_step_s = step_progress(rollout, now, units_seen=units_seen)
    step = rollout.steps[index]
    paused = rollout.status == "paused"
    phase: RolloutPhase = "paused" if paused else "active"
    next_at: datetime | None = None
    if index < len(rollout.steps) - 1 and not paused:
        units = units_seen if index == rollout.step_index else None
        if step.min_units is not None and (units is None or units < step.min_units):
            phase = "waiting"
        else:
            remaining = (step.hold_s or 0.0) - in_step_s
            next_at = now + timedelta(seconds=max(0.0, remaining))
    return RolloutState(index, step.traffic_fraction, next_at, phase, step.min_units)


def step_progress(
    rollout: Rollout, now: datetime, *, units_seen: int | None = None
) -> tuple[int, float]:
    """The current step of a started rollout and the active seconds spent in it.

    Args:
        rollout: A rollout with ``started_at`` set.
        now: Current time.
        units_seen: Units exposed since the anchor step began, if known.

    Returns:
        ``(step_index, seconds_in_step)``; paused time does not count.
    """
    anchor_at = rollout.step_started_at or rollout.started_at or now
    held_s = _active_seconds(rollout, anchor_at, now)
    index = rollout.step_index
    last = len(rollout.steps) - 1
    while index < last:
        step = rollout.steps[index]
        units = units_seen if index == rollout.step_index else None
        if not _gate_met(step, held_s, units):
            break
        index += 1
        if step.min_units is not None:
            # A sample gate is seen passed only now, so the next step begins now.
            return index, 0.0
        held_s -= step.hold_s or 0.0
    return index, held_s


def includes(rollout: Rollout, unit_id: str, traffic_fraction: float) -> bool:
    """Whether ``unit_id`` gets the rollout's variation at ``traffic_fraction``.

    Monotone: a unit included at a fraction is included at every larger one.

    Examples:
        >>> from abwb.config import Rollout, RolloutStep
        >>> r = Rollout(key="r", flag_key="f", variation="on",
        ...             steps=[RolloutStep(traffic_fraction=1.0)])
        >>> includes(r, "user-1", 0.0), includes(r, "user-1", 1.0)
        (False, True)
    """
    return bucket(rollout.effective_salt, unit_id) < traffic_fraction * BUCKETS
