"""Gradual rollout definitions: a flag variation released to a growing share of units."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal

import msgspec

from abwb.config.validation import ProblemList, check_key, check_utc, raise_if

__all__ = ["Rollout", "RolloutStatus", "RolloutStep"]

RolloutStatus = Literal["draft", "active", "paused", "completed", "rolled_back"]


class RolloutStep(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One step: release to ``traffic_fraction`` and hold for a time and/or a sample."""

    traffic_fraction: float
    hold_s: float | None = None
    min_units: int | None = None


class Rollout(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A staged release of ``variation`` of flag ``flag_key``.

    Inclusion uses one hash per rollout (salt ``rollout:{key}``): raising the share
    only adds units, so nobody who had the feature at 5 % loses it at 25 %.
    """

    key: str
    flag_key: str
    variation: str
    steps: list[RolloutStep]
    status: RolloutStatus = "draft"
    started_at: datetime | None = None
    guardrails: list[str] = msgspec.field(default_factory=list)
    auto_rollback: bool = False
    salt: str = ""
    name: str = ""
    version: int = 0

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
        if not self.steps:
            problems.add("steps", "needs at least one step")
        previous = 0.0
        for i, step in enumerate(self.steps):
            f = step.traffic_fraction
            if not math.isfinite(f) or not 0 < f <= 1:
                problems.add(f"steps[{i}].traffic_fraction", f"must be in (0, 1], got {f!r}")
            elif f < previous:
                problems.add(
                    f"steps[{i}].traffic_fraction",
                    f"steps must not decrease ({f} after {previous})",
                )
            else:
                previous = f
            if step.hold_s is not None and not step.hold_s >= 0:
                problems.add(f"steps[{i}].hold_s", f"must be >= 0, got {step.hold_s}")
            if step.min_units is not None and step.min_units < 0:
                problems.add(f"steps[{i}].min_units", f"must be >= 0, got {step.min_units}")
        check_utc(problems, "started_at", self.started_at)
        return problems
