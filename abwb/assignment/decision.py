"""What the assignment engine answers: a decision per experiment, with its reason."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec

__all__ = ["EXPOSING_REASONS", "AssignmentResult", "Decision", "Reason"]


class Reason(StrEnum):
    """Why a unit got (or did not get) a variant; every decision carries one."""

    ASSIGNED = "assigned"
    OVERRIDE = "override"
    STICKY = "sticky"
    HOLDOUT = "holdout"
    TARGETING_MISS = "targeting_miss"
    LAYER_EXCLUDED = "layer_excluded"
    NOT_IN_TRAFFIC = "not_in_traffic"
    NOT_RUNNING = "not_running"
    PAUSED = "paused"
    KILLED = "killed"
    OUTSIDE_SCHEDULE = "outside_schedule"
    UNIT_TYPE_MISMATCH = "unit_type_mismatch"
    SURFACE_TAKEN = "surface_taken"

    @property
    def in_experiment(self) -> bool:
        """Whether a unit with this reason is part of the experiment (and exposed)."""
        return self in EXPOSING_REASONS


#: The reasons that put a unit in an experiment (and so count as an exposure); a set, so
#: the per-decision test on the serving path is one hash lookup.
EXPOSING_REASONS = frozenset({Reason.ASSIGNED, Reason.OVERRIDE, Reason.STICKY})


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """One experiment's answer for one unit.

    Attributes:
        experiment: Experiment key.
        variant: Variant key served, or ``None`` (not in the experiment: serve the default).
        reason: Why.
        phase: Experiment phase the decision was made in.
        payload: The variant's payload, when a variant is served.
        detail: Human-readable detail (e.g. which targeting clause failed).
    """

    experiment: str
    variant: str | None
    reason: Reason
    phase: int = 1
    payload: Any = None
    detail: str = ""

    @property
    def in_experiment(self) -> bool:
        """Whether the unit is in the experiment (counts as an exposure)."""
        return self.reason.in_experiment


class AssignmentResult(msgspec.Struct, frozen=True, kw_only=True):
    """Every decision for one unit, plus the sticky assignments to persist."""

    unit_id: str
    unit_type: str
    decisions: list[Decision]
    config_version: int
    sticky_writes: dict[str, str] = msgspec.field(default_factory=dict)

    def variant(self, experiment: str) -> str | None:
        """The variant served for ``experiment`` (``None`` if not in it or unknown)."""
        return next((d.variant for d in self.decisions if d.experiment == experiment), None)

    def decision(self, experiment: str) -> Decision | None:
        """The decision for ``experiment``, if it was evaluated."""
        return next((d for d in self.decisions if d.experiment == experiment), None)
