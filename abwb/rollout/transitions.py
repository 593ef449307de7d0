"""Pure rollout transitions: start, pause, resume, advance, complete, roll back.

Each takes a :class:`~abwb.config.Rollout` and returns a new one (the caller stores it
with ``ConfigStore.update(..., expected_version=...)``). An illegal transition raises
:class:`~abwb.errors.Conflict` naming the current status. Paused time is recorded in
``paused_s`` so that holds only count time the rollout was live.

The monitoring job drives automatic rollback: when a guardrail in
``rollout.guardrails`` is harmed it calls :func:`roll_back` with the reason.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from abwb.config.rollout import Rollout
from abwb.errors import Conflict, InvalidInput
from abwb.rollout.schedule import step_progress

__all__ = ["advance", "complete", "pause", "resume", "roll_back", "start"]


def _check_now(now: datetime) -> None:
    if now.tzinfo is None:
        raise InvalidInput("must be timezone-aware", path="now")


def _require(rollout: Rollout, action: str, *allowed: str) -> None:
    if rollout.status not in allowed:
        raise Conflict(
            f"cannot {action} rollout {rollout.key!r}: status is {rollout.status!r}, "
            f"expected one of {list(allowed)}"
        )


def start(rollout: Rollout, now: datetime, *, at: datetime | None = None) -> Rollout:
    """Start a draft rollout now (or at ``at``, a scheduled start) at its first step.

    Raises:
        Conflict: the rollout is not a draft.
        InvalidInput: naive timestamps.
    """
    _check_now(now)
    _require(rollout, "start", "draft")
    return msgspec.structs.replace(
        rollout,
        status="active",
        started_at=at or now,
        step_index=0,
        step_started_at=None,
        paused_at=None,
        paused_s=0.0,
        status_reason="",
    )


def pause(rollout: Rollout, now: datetime, *, reason: str = "") -> Rollout:
    """Freeze an active rollout at its current step; holds stop counting.

    Raises:
        Conflict: the rollout is not active.
    """
    _check_now(now)
    _require(rollout, "pause", "active")
    return msgspec.structs.replace(rollout, status="paused", paused_at=now, status_reason=reason)


def resume(rollout: Rollout, now: datetime) -> Rollout:
    """Resume a paused rollout; the paused time is excluded from the current hold.

    Raises:
        Conflict: the rollout is not paused.
    """
    _check_now(now)
    _require(rollout, "resume", "paused")
    paused_at = rollout.paused_at or now
    anchor_at = rollout.step_started_at or rollout.started_at or now
    # Only time after the anchor was ever counted toward a hold, so only it is excluded.
    paused_s = max(0.0, (now - max(paused_at, anchor_at)).total_seconds())
    return msgspec.structs.replace(
        rollout,
        status="active",
        paused_at=None,
        paused_s=rollout.paused_s + paused_s,
        status_reason="",
    )


def advance(rollout: Rollout, now: datetime, *, units_seen: int | None = None) -> Rollout:
    """Record the progress of an active rollout, passing sample gates with ``units_seen``.

    The monitoring job calls this periodically with the units exposed since the current
    step began, and stores the result when it differs. Time-held steps need no call (every
    process computes them from the clock), but recording them does no harm.

    Args:
        rollout: The rollout.
        now: Current time.
        units_seen: Units exposed since ``rollout.step_index`` began.

    Returns:
        ``rollout`` itself when nothing moved, else a copy anchored at the new step.

    Raises:
        InvalidInput: negative ``units_seen`` or naive ``now``.
    """
    _check_now(now)
    if units_seen is not None and units_seen < 0:
        raise InvalidInput(f"must be >= 0, got {units_seen}", path="units_seen")
    if rollout.status != "active" or rollout.started_at is None or now < rollout.started_at:
        return rollout
    index, in_step_s = step_progress(rollout, now, units_seen=units_seen)
    if index == rollout.step_index:
        return rollout
    return msgspec.structs.replace(
        rollout,
        step_index=index,
        step_started_at=now - timedelta(seconds=in_step_s),
        paused_s=0.0,
    )


def complete(rollout: Rollout, *, reason: str = "") -> Rollout:
    """Release to everyone: the rollout's variation is served at fraction 1.

    Raises:
        Conflict: the rollout is a draft, rolled back or already completed.
    """
    _require(rollout, "complete", "active", "paused")
    return msgspec.structs.replace(
        rollout,
        status="completed",
        step_index=len(rollout.steps) - 1,
        paused_at=None,
        status_reason=reason,
    )


def roll_back(rollout: Rollout, reason: str) -> Rollout:
    """Withdraw the rollout's variation from everyone (fraction 0), recording why.

    Idempotent, so the monitoring job may call it on every failing check.

    Args:
        rollout: The rollout.
        reason: Why (e.g. ``"guardrail error_rate harmed: +4.1% (p=0.002)"``).

    Raises:
        Conflict: the rollout is a draft (nothing to roll back).
        InvalidInput: empty reason.
    """
    if not reason.strip():
        raise InvalidInput("must say why the rollout is rolled back", path="reason")
    if rollout.status == "rolled_back":
        return rollout
    _require(rollout, "roll back", "active", "paused", "completed")
    return msgspec.structs.replace(
        rollout, status="rolled_back", paused_at=None, status_reason=reason
    )
