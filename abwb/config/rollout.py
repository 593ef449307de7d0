"""Gradual rollout definitions: a flag variation released to a growing share of units."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from abwb.config.validation import NON_EMPTY, Bound, ProblemList, check_key, check_utc, raise_if

__all__ = ["Rollout", "RolloutStatus", "RolloutStep"]

RolloutStatus = Literal["draft", "active", "paused", "completed", "rolled_back"]
#: A step releases to some units: more than none, at most all.
STEP_FRACTION = Bound(gt=0, le=1)
#: Holds, sample sizes, paused seconds and the step index are never negative.
NOT_NEGATIVE = Bound(ge=0)


class RolloutStep(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One step: release to ``traffic_fraction`` and hold for a time and/or a sample.

    Args:
        traffic_fraction: Share (0 to 1) of units served the variation in this step.
        hold_s: Seconds to stay in the step before `advance` is allowed.
        min_units: Units to see in the step before `advance` is allowed.
    """

    traffic_fraction: Annotated[float, STEP_FRACTION]
    hold_s: Annotated[float, NOT_NEGATIVE] | None = None
    min_units: Annotated[int, NOT_NEGATIVE] | None = None


class Rollout(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A staged release of ``variation`` of flag ``flag_key``.

    Inclusion uses one hash per rollout (salt ``rollout:{key}``): raising the share
    only adds units, so nobody who had the feature at 5 % loses it at 25 %.

    Args:
        key: Unique slug; also the default salt.
        flag_key: The flag being rolled out.
        variation: The variation the rollout serves to its growing share.
        steps: Traffic steps, each with a hold time and a minimum sample.
        status: `draft`, `active`, `paused`, `completed` or `rolled_back` (changed by actions).
        started_at: When it started (set by `start`).
        guardrails: Metric keys watched by the monitor during the rollout.
        auto_rollback: Roll back automatically when a guardrail is harmed.
        salt: Hash salt; defaults to ``key``.
        name: Human-readable name.
        version: Optimistic-concurrency version, set by the store (ignored on create).
        step_index: Index of the current step (set by actions).
        step_started_at: When the current step began (set by actions).
        paused_at: When it was paused, while paused.
        paused_s: Seconds spent paused in this step.
        status_reason: Why the status last changed (e.g. the guardrail that rolled it back).
    """

    key: str
    flag_key: str
    variation: str
    steps: Annotated[list[RolloutStep], NON_EMPTY]
    status: RolloutStatus = "draft"
    started_at: datetime | None = None
    guardrails: list[str] = msgspec.field(default_factory=list)
    auto_rollback: bool = False
    salt: str = ""
    name: str = ""
    version: int = 0
    #: Progress anchor: the step reached and when it began (``None``: ``started_at``).
    #: Time-held steps advance from here by the clock alone; sample-held steps
    #: (``min_units``) are passed by :func:`abwb.rollout.advance`, which moves the anchor.
    step_index: Annotated[int, NOT_NEGATIVE] = 0
    step_started_at: datetime | None = None
    #: When the rollout was paused (set while ``status == "paused"``).
    paused_at: datetime | None = None
    #: Seconds spent paused since the anchor; not counted toward holds.
    paused_s: Annotated[float, NOT_NEGATIVE] = 0.0
    #: Why the rollout last changed status (e.g. the guardrail that rolled it back).
    status_reason: str = ""

    def __post_init__(self) -> None:
        raise_if(self.problems())

    @property
    def effective_salt(self) -> str:
        """The salt actually hashed."""
        return self.salt or f"rollout:{self.key}"

    def problems(self) -> ProblemList:
        """Self-contained problems."""
        problems = ProblemList()
        check_key(problems, "key", self.key)
        if not NON_EMPTY.contains(self.steps):
            problems.add("steps", "needs at least one step")
        previous = 0.0
        for i, step in enumerate(self.steps):
            f = step.traffic_fraction
            if not STEP_FRACTION.contains(f):
                problems.add(f"steps[{i}].traffic_fraction", f"must be in (0, 1], got {f!r}")
            elif f < previous:
                problems.add(
                    f"steps[{i}].traffic_fraction",
                    f"steps must not decrease ({f} after {previous})",
                )
            else:
                previous = f
            if step.hold_s is not None and not NOT_NEGATIVE.contains(step.hold_s):
                problems.add(f"steps[{i}].hold_s", f"must be >= 0, got {step.hold_s}")
            if step.min_units is not None and not NOT_NEGATIVE.contains(step.min_units):
                problems.add(f"steps[{i}].min_units", f"must be >= 0, got {step.min_units}")
        check_utc(problems, "started_at", self.started_at)
        self._check_progress(problems)
        return problems

    def _check_progress(self, problems: ProblemList) -> None:
        check_utc(problems, "step_started_at", self.step_started_at)
        check_utc(problems, "paused_at", self.paused_at)
        if not 0 <= self.step_index < max(1, len(self.steps)):
            problems.add(
                "step_index", f"must be in [0, {len(self.steps) - 1}], got {self.step_index}"
            )
        if not NOT_NEGATIVE.contains(self.paused_s):
            problems.add("paused_s", f"must be a finite number >= 0, got {self.paused_s!r}")
        if self.status in ("active", "paused") and self.started_at is None:
            problems.add("started_at", f"is required when status is {self.status!r}")
        if self.status == "paused" and self.paused_at is None:
            problems.add("paused_at", "is required when status is 'paused'")
        if self.status != "paused" and self.paused_at is not None:
            problems.add("paused_at", f"must be empty unless paused (status is {self.status!r})")
