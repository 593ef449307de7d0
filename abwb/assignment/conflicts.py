"""Experiments competing for one flag or surface: conflict detection and precedence.

What belongs here: deciding, before start, whether an experiment would share units
with another on the same flag or surface, and the precedence the runtime guard
applies when two of them would claim one unit.

Two running or scheduled experiments *conflict* when all of these hold:

* they drive the same flag or declare a common surface;
* they randomise the same unit type;
* their schedules overlap in time (a missing bound is open-ended);
* their layer placements can hold the same unit (same layer with intersecting
  ranges, or not both in the same layer);
* their audiences can intersect (:func:`abwb.targeting.analyse_overlap`, a sound
  static analysis: "disjoint" is only claimed when proven).

:func:`check_can_start` turns conflicts into a :class:`~abwb.errors.Conflict` whose
``reasons`` explain each pair. :func:`surface_rivals` gives the engine, per
experiment, the higher-precedence experiments it must yield a unit to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from abwb.config.bundle import ConfigBundle
from abwb.config.experiment import Experiment
from abwb.errors import Conflict
from abwb.targeting.overlap import analyse_overlap

__all__ = [
    "ACTIVE_STATUSES",
    "ConflictReport",
    "Rival",
    "check_can_start",
    "find_conflicts",
    "precedence_key",
    "shared_surfaces",
    "surface_rivals",
]

#: Statuses whose experiments hold their surfaces.
ACTIVE_STATUSES = frozenset({"running", "scheduled"})


@dataclass(frozen=True, slots=True)
class ConflictReport:
    """Why ``candidate`` cannot run alongside ``other``.

    Attributes:
        candidate: Key of the experiment being checked.
        other: Key of the running or scheduled experiment it collides with.
        other_status: Status of ``other`` (``running`` or ``scheduled``).
        shared: What they compete for (``flag 'new-checkout'``, ``surface 'checkout'``).
        reasons: One line per condition of a conflict, each saying why it holds.
    """

    candidate: str
    other: str
    other_status: str
    shared: tuple[str, ...]
    reasons: tuple[str, ...]

    @property
    def message(self) -> str:
        """One human-readable sentence for logs, API errors and the CLI."""
        return (
            f"{self.candidate!r} conflicts with {self.other!r} ({self.other_status}) on "
            + ", ".join(self.shared)
            + ": "
            + "; ".join(self.reasons)
        )



def shared_surfaces(a: Experiment, b: Experiment) -> tuple[str, ...]:
    """What ``a`` and ``b`` both claim: their common flag and declared surfaces.

    Examples:
        >>> from abwb.config import Experiment, Variant
        >>> vs = [Variant(key="c", weight=0.5, is_control=True), Variant(key="t", weight=0.5)]
        >>> shared_surfaces(Experiment(key="a", variants=vs, surfaces=["checkout", "cart"]),
        ...                 Experiment(key="b", variants=vs, surfaces=["cart"]))
        ("surface 'cart'",)
    """
    shared: list[str] = []
    if a.flag_key is not None and a.flag_key == b.flag_key:
        shared.append(f"flag {a.flag_key!r}")
    shared.extend(f"surface {s!r}" for s in sorted(set(a.surfaces) & set(b.surfaces)))
    return tuple(shared)


def find_conflicts(candidate: Experiment, bundle: ConfigBundle) -> list[ConflictReport]:
    """Every running or scheduled experiment ``candidate`` would collide with.

    The candidate itself (same key) is skipped, so it may already be in the bundle.

    Args:
        candidate: The experiment about to start (its own status is not consulted).
        bundle: The current config (its segments resolve segment references).

    Returns:
        One report per conflicting experiment, in config order.
    """
    reports: list[ConflictReport] = []
    for other in bundle.experiments:
        if other.key == candidate.key or other.status not in ACTIVE_STATUSES:
            continue
        shared = shared_surfaces(candidate, other)
        if not shared or candidate.unit_type != other.unit_type:
            continue
        if not _schedules_overlap(candidate, other):
            continue
        layer_reason = _layer_overlap(candidate, other)
        if layer_reason is None:
            continue
        verdict = analyse_overlap(candidate.targeting, other.targeting, segments=bundle.segments)
        if not verdict.may_overlap:
            continue
        reports.append(
            ConflictReport(
                candidate=candidate.key,
                other=other.key,
                other_status=other.status,
                shared=shared,
                reasons=(
                    f"both randomise {candidate.unit_type!r} units",
                    _schedule_reason(candidate, other),
                    layer_reason,
                    verdict.explanation,
                ),
            )
        )
    return reports


def check_can_start(experiment: Experiment, bundle: ConfigBundle) -> None:
    """Refuse to start ``experiment`` while it conflicts with another.

    Args:
        experiment: The experiment to start.
        bundle: The current config.

    Raises:
        Conflict: naming every conflicting experiment; ``reasons`` holds one
            message per conflict.
    """
    reports = find_conflicts(experiment, bundle)
    if reports:
        others = ", ".join(repr(r.other) for r in reports)
        raise Conflict(
            f"experiment {experiment.key!r} cannot start: it would share units with "
            f"{len(reports)} running or scheduled experiment(s) on the same flag or "
            f"surface: {others}. Put them in one layer with disjoint ranges, make their "
            "audiences disjoint, or stop the other experiment first",
            reasons=[r.message for r in reports],
        )


def _schedules_overlap(a: Experiment, b: Experiment) -> bool:
    a_start, a_end = a.schedule.start_at, a.schedule.end_at
    b_start, b_end = b.schedule.start_at, b.schedule.end_at
    if a_end is not None and b_start is not None and a_end <= b_start:
        return False
    return not (b_end is not None and a_start is not None and b_end <= a_start)


def _schedule_reason(a: Experiment, b: Experiment) -> str:
    if not any((a.schedule.start_at, a.schedule.end_at, b.schedule.start_at,
                b.schedule.end_at)):
        return "neither has an end date"
    return "their schedules overlap"


def _layer_overlap(a: Experiment, b: Experiment) -> str | None:
    """Why a unit can be in both placements, or ``None`` when the layer separates them."""
    if a.layer is None and b.layer is None:
        return "neither is in a layer"
    if a.layer is None or b.layer is None:
        inside = a if a.layer is not None else b
        return f"only {inside.key!r} is in a layer, which does not exclude the other"
    if a.layer.layer != b.layer.layer:
        return f"they are in different layers ({a.layer.layer!r}, {b.layer.layer!r})"
    common = [
        (max(s1, s2), min(e1, e2))
        for s1, e1 in a.layer.ranges
        for s2, e2 in b.layer.ranges
        if max(s1, s2) < min(e1, e2)
    ]
    if not common:
        return None
    shown = ", ".join(f"[{s}, {e})" for s, e in common[:3])
    return f"their ranges in layer {a.layer.layer!r} intersect at {shown}"


@dataclass(frozen=True, slots=True)
class Rival:
    """A higher-precedence experiment competing for the same flag or surface."""

    key: str
    shared: str


def precedence_key(experiment: Experiment, index: int) -> tuple[bool, datetime | None, int]:
    """Order in which experiments claim a contested unit: first claims, first served.

    Experiments without a scheduled start come first (they have been on since they
    were switched to running), then by ``schedule.start_at``, then config order.
    """
    start = experiment.schedule.start_at
    return (start is not None, start, index)


def surface_rivals(experiments: Sequence[Experiment]) -> dict[str, tuple[Rival, ...]]:
    """Per running experiment, the running experiments it must yield contested units to.

    Rivals share a flag or surface and the unit type, can hold the same layer
    buckets, and come earlier in :func:`precedence_key` order.

    Args:
        experiments: Experiments in config order.

    Returns:
        Experiment key → rivals in precedence order (experiments without rivals omitted).
    """
    running = [(e, i) for i, e in enumerate(experiments) if e.status == "running"]
    running.sort(key=lambda pair: _sortable(precedence_key(*pair)))
    rivals: dict[str, tuple[Rival, ...]] = {}
    for pos, (exp, _) in enumerate(running):
        if not exp.flag_key and not exp.surfaces:
            continue
        found = []
        for earlier, _ in running[:pos]:
            shared = shared_surfaces(exp, earlier)
            if (shared and exp.unit_type == earlier.unit_type
                    and _layer_overlap(exp, earlier) is not None):
                found.append(Rival(earlier.key, shared[0]))
        if found:
            rivals[exp.key] = tuple(found)
    return rivals


def _sortable(key: tuple[bool, datetime | None, int]) -> tuple[bool, float, int]:
    has_start, start, index = key
    return (has_start, start.timestamp() if start is not None else 0.0, index)
