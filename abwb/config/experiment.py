"""The experiment model: variants, traffic, layer placement, overrides, schedule, metrics.

An :class:`Experiment` validates itself when built (decoded or constructed), so an
invalid experiment cannot exist. Checks that need other objects (does the layer
exist, is the metric defined) live in :mod:`abwb.config.bundle`.
"""

from __future__ import annotations

import itertools
import math
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from abwb.config.validation import (
    FRACTION,
    NON_EMPTY,
    Bound,
    ProblemList,
    check_fraction,
    check_key,
    check_payload,
    check_unique,
    check_utc,
    join,
    raise_if,
)

__all__ = [
    "BUCKETS",
    "Experiment",
    "ExperimentMetrics",
    "ExperimentStatus",
    "LayerPlacement",
    "Schedule",
    "Variant",
]

#: Size of the bucket line every hash is reduced onto (hash version 1).
BUCKETS = 10_000

ExperimentStatus = Literal["draft", "scheduled", "running", "paused", "stopped", "archived"]
#: Weights may be given with float noise (1/3 + 1/3 + 1/3); beyond this they are wrong.
WEIGHT_TOLERANCE = 1e-9
#: Phases count from 1.
PHASE = Bound(ge=1)
#: An experiment compares at least two variants.
VARIANTS = Bound(min_length=2)


class Variant(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One arm of an experiment.

    Args:
        key: Variant key, unique in the experiment (``control``, ``treatment``).
        weight: Share of the experiment's units, 0 to 1; weights sum to 1.
        is_control: Exactly one variant per experiment is the control.
        payload: JSON value served with the variant (e.g. a flag value or UI config).
        name: Human-readable name.
    """

    key: str
    weight: Annotated[float, FRACTION]
    is_control: bool = False
    payload: Any = None
    name: str = ""


class LayerPlacement(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where an experiment sits in a layer: half-open bucket ranges ``[start, end)``.

    The ranges live in the layer's own bucket space (0 to 10,000); a unit whose layer
    bucket falls outside them is not in the experiment.

    Args:
        layer: Key of the mutual-exclusion layer.
        ranges: Bucket ranges `[start, end)` of the layer (0-10,000) the experiment owns.
    """

    layer: str
    ranges: Annotated[list[tuple[int, int]], NON_EMPTY]

    @property
    def size(self) -> int:
        """Number of layer buckets the experiment owns."""
        return sum(end - start for start, end in self.ranges)


class Schedule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Optional start and end; a running experiment outside its window assigns nobody.

    Args:
        start_at: When the experiment may start (RFC 3339 with offset).
        end_at: When it should stop (RFC 3339 with offset).
    """

    start_at: datetime | None = None
    end_at: datetime | None = None


class ExperimentMetrics(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Metric keys the experiment is judged by (definitions live in the bundle).

    Args:
        primary: Metric keys deciding the outcome.
        secondary: Metric keys reported for context.
        guardrails: Metric keys that must not get worse (checked by the monitor).
    """

    primary: list[str] = msgspec.field(default_factory=list)
    secondary: list[str] = msgspec.field(default_factory=list)
    guardrails: list[str] = msgspec.field(default_factory=list)

    def all_keys(self) -> list[str]:
        """Every referenced metric key, primary first."""
        return [*self.primary, *self.secondary, *self.guardrails]


class Experiment(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """An experiment definition (config-as-code); validated on construction.

    Args:
        key: Unique slug; also the default salt.
        variants: At least two, exactly one control, weights summing to 1.
        traffic_fraction: Share (0 to 1) of eligible units that enter the experiment.
        salt: Hash salt; defaults to ``key``. Changing it re-randomises everything.
        phase: Incremented to re-randomise variant assignment on purpose.
        allocation: Explicit variant bucket ranges, set by minimal-move re-weighting
            (:func:`abwb.assignment.allocation.reweight`); ``None`` means the canonical
            contiguous layout derived from the weights.
        targeting: Condition (JSON) deciding who is eligible; ``None`` means everyone.
        layer: Placement in a mutual-exclusion layer.
        holdout: Key of a holdout whose units never enter this experiment.
        flag_key: The feature flag this experiment drives, if any.
        surfaces: Declared product surfaces (for conflict detection).
        overrides: Unit id → variant key, forced for QA / allowlists.
        sticky: Keep a unit's first variant when weights change mid-experiment.
        name: Human-readable name.
        hypothesis: What the experiment expects to change, and why.
        owner: Team or person responsible.
        unit_type: The randomisation unit (`user`, `device`...).
        status: Lifecycle state: `draft`, `scheduled`, `running`, `paused`, `stopped` or
            `archived` (changed by the status actions).
        metrics: The metric keys read out: primary, secondary and guardrails.
        schedule: Optional start and end instants.
        version: Optimistic-concurrency version, set by the store (ignored on create).
    """

    key: str
    variants: Annotated[list[Variant], VARIANTS]
    name: str = ""
    hypothesis: str = ""
    owner: str = ""
    unit_type: Annotated[str, NON_EMPTY] = "user"
    status: ExperimentStatus = "draft"
    phase: Annotated[int, PHASE] = 1
    salt: str = ""
    traffic_fraction: Annotated[float, FRACTION] = 1.0
    allocation: dict[str, list[tuple[int, int]]] | None = None
    targeting: Any = None
    layer: LayerPlacement | None = None
    holdout: str | None = None
    flag_key: str | None = None
    surfaces: list[Annotated[str, NON_EMPTY]] = msgspec.field(default_factory=list)
    overrides: dict[str, str] = msgspec.field(default_factory=dict)
    sticky: bool = False
    metrics: ExperimentMetrics = msgspec.field(default_factory=ExperimentMetrics)
    schedule: Schedule = msgspec.field(default_factory=Schedule)
    version: int = 0

    def __post_init__(self) -> None:
        raise_if(self.problems())

    @property
    def effective_salt(self) -> str:
        """The salt actually hashed: ``salt`` or, when empty, the key."""
        return self.salt or self.key

    @property
    def control(self) -> Variant:
        """The control variant."""
        return next(v for v in self.variants if v.is_control)

    def variant(self, key: str) -> Variant | None:
        """The variant with ``key``, or ``None``."""
        return next((v for v in self.variants if v.key == key), None)

    def problems(self) -> ProblemList:
        """Every self-contained problem with this experiment (no cross-references)."""
        problems = ProblemList()
        check_key(problems, "key", self.key)
        if not NON_EMPTY.contains(self.unit_type):
            problems.add("unit_type", "must not be empty")
        if not PHASE.contains(self.phase):
            problems.add("phase", f"must be >= 1, got {self.phase}")
        check_fraction(problems, "traffic_fraction", self.traffic_fraction)
        self._check_variants(problems)
        self._check_allocation(problems)
        self._check_layer(problems)
        self._check_schedule(problems)
        keys = {v.key for v in self.variants}
        for unit_id, variant in self.overrides.items():
            if variant not in keys:
                problems.add(
                    f"overrides[{unit_id!r}]",
                    f"unknown variant {variant!r}; expected one of {sorted(keys)}",
                )
        for i, surface in enumerate(self.surfaces):
            if not NON_EMPTY.contains(surface):
                problems.add(f"surfaces[{i}]", "must not be empty")
        return problems

    def _check_variants(self, problems: ProblemList) -> None:
        if not VARIANTS.contains(self.variants):
            problems.add("variants", f"needs at least 2 variants, got {len(self.variants)}")
        controls = [v.key for v in self.variants if v.is_control]
        if len(controls) != 1:
            problems.add(
                "variants", f"needs exactly one control (is_control: true), got {len(controls)}"
            )
        check_unique(problems, "variants", (v.key for v in self.variants), "variant")
        total = 0.0
        all_finite = True
        for i, v in enumerate(self.variants):
            base = f"variants[{i}]"
            check_key(problems, join(base, "key"), v.key)
            if not math.isfinite(v.weight):
                problems.add(join(base, "weight"), f"must be finite, got {v.weight!r}")
                all_finite = False
            elif v.weight < 0:
                problems.add(join(base, "weight"), f"must be >= 0, got {v.weight!r}")
            elif not FRACTION.contains(v.weight):
                message = f"must be a fraction in [0, 1], got {v.weight!r}"
                problems.add(join(base, "weight"), message)
            total += v.weight if math.isfinite(v.weight) else 0.0
            check_payload(problems, join(base, "payload"), v.payload)
        if all_finite and self.variants and abs(total - 1.0) > WEIGHT_TOLERANCE:
            problems.add("variants", f"weights must sum to 1 (±1e-9), got {total!r}")

    def _check_allocation(self, problems: ProblemList) -> None:
        if self.allocation is None:
            return
        keys = {v.key for v in self.variants}
        spans: list[tuple[int, int, str]] = []
        for variant, ranges in self.allocation.items():
            if variant not in keys:
                problems.add(f"allocation[{variant!r}]", "not a variant of this experiment")
            spans.extend((s, e, variant) for s, e in ranges)
        spans.sort()
        cursor = 0
        for start, end, variant in spans:
            if start != cursor or end <= start:
                problems.add(
                    "allocation",
                    f"ranges must tile [0, {BUCKETS}) without gaps or overlaps; "
                    f"problem at {variant!r} [{start}, {end})",
                )
                return
            cursor = end
        if cursor != BUCKETS:
            problems.add("allocation", f"ranges must end at {BUCKETS}, end at {cursor}")

    def _check_layer(self, problems: ProblemList) -> None:
        if self.layer is None:
            return
        check_key(problems, "layer.layer", self.layer.layer)
        if not NON_EMPTY.contains(self.layer.ranges):
            problems.add("layer.ranges", "must hold at least one [start, end) range")
        ordered = sorted(self.layer.ranges)
        for i, (start, end) in enumerate(self.layer.ranges):
            if not 0 <= start < end <= BUCKETS:
                problems.add(
                    f"layer.ranges[{i}]",
                    f"must satisfy 0 <= start < end <= {BUCKETS}, got [{start}, {end})",
                )
        for (s1, e1), (s2, e2) in itertools.pairwise(ordered):
            if s2 < e1:
                problems.add("layer.ranges", f"ranges overlap: [{s1}, {e1}) and [{s2}, {e2})")

    def _check_schedule(self, problems: ProblemList) -> None:
        start, end = self.schedule.start_at, self.schedule.end_at
        check_utc(problems, "schedule.start_at", start)
        check_utc(problems, "schedule.end_at", end)
        if start and end and start.tzinfo and end.tzinfo and not start < end:
            problems.add("schedule", f"start_at must be before end_at, got {start} >= {end}")
