"""Variant allocation on the bucket line, and minimal-move re-weighting.

An allocation maps each variant to half-open bucket ranges ``[start, end)`` tiling
``[0, 10000)``. The canonical layout lays variants out contiguously in declaration
order; :func:`reweight` changes weights by moving only the buckets that must move
(interval surgery), so the share of units that switch variant is the minimum
possible, ``Σ max(0, old_i - new_i)``.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import msgspec

from abwb.config.experiment import BUCKETS, Experiment
from abwb.errors import InvalidInput

__all__ = [
    "Allocation",
    "ReweightResult",
    "allocation_of",
    "bucket_counts",
    "canonical_allocation",
    "reweight",
]

Ranges = list[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class Allocation:
    """A lookup-ready allocation: sorted range starts and the variant owning each range."""

    starts: tuple[int, ...]
    ends: tuple[int, ...]
    variants: tuple[str, ...]

    @classmethod
    def from_ranges(cls, ranges: Mapping[str, Ranges]) -> Allocation:
        """Build from variant → ranges (empty ranges dropped)."""
        spans = sorted((s, e, v) for v, rs in ranges.items() for s, e in rs if e > s)
        return cls(
            tuple(s for s, _, _ in spans),
            tuple(e for _, e, _ in spans),
            tuple(v for *_, v in spans),
        )

    def variant_at(self, bucket: int) -> str:
        """The variant that owns ``bucket``."""
        i = bisect.bisect_right(self.starts, bucket) - 1
        return self.variants[i]

    def ranges(self) -> dict[str, Ranges]:
        """Variant → ranges, merged where adjacent."""
        out: dict[str, Ranges] = {}
        for s, e, v in zip(self.starts, self.ends, self.variants, strict=True):
            rs = out.setdefault(v, [])
            if rs and rs[-1][1] == s:
                rs[-1] = (rs[-1][0], e)
            else:
                rs.append((s, e))
        return out


def bucket_counts(weights: Sequence[float]) -> list[int]:
    """Integer bucket counts for weights summing to 1, by cumulative rounding.

    Rounding the cumulative sums (not each weight) keeps the total at exactly
    10,000 and every count within one bucket of its exact share.

    Examples:
        >>> bucket_counts([1/3, 1/3, 1/3])
        [3333, 3334, 3333]
    """
    counts: list[int] = []
    cumulative = 0.0
    previous = 0
    for w in weights:
        cumulative += w
        edge = min(BUCKETS, round(cumulative * BUCKETS))
        counts.append(edge - previous)
        previous = edge
    counts[-1] += BUCKETS - previous
    return counts


def canonical_allocation(experiment: Experiment) -> dict[str, Ranges]:
    """Contiguous ranges in declaration order, sized by :func:`bucket_counts`."""
    out: dict[str, Ranges] = {}
    start = 0
    for variant, count in zip(
        experiment.variants, bucket_counts([v.weight for v in experiment.variants]), strict=True
    ):
        out[variant.key] = [(start, start + count)] if count else []
        start += count
    return out


def allocation_of(experiment: Experiment) -> Allocation:
    """The experiment's allocation: explicit if set, else canonical."""
    ranges = experiment.allocation if experiment.allocation is not None else None
    return Allocation.from_ranges(ranges or canonical_allocation(experiment))


@dataclass(frozen=True, slots=True)
class ReweightResult:
    """Outcome of :func:`reweight`.

    Attributes:
        experiment: The experiment with new weights and the explicit allocation.
        moved_fraction: Share of the experiment's units whose variant changes
            (0 to 1); equals the minimum possible, ``Σ max(0, old_i - new_i)``.
    """

    experiment: Experiment
    moved_fraction: float


def reweight(experiment: Experiment, weights: Mapping[str, float]) -> ReweightResult:
    """Change variant weights moving only the bucket mass that must move.

    Shrinking variants give up buckets from the ends of their ranges; growing variants
    take exactly those buckets. Everyone else keeps their variant.

    Args:
        experiment: The experiment (its current allocation is the starting point).
        weights: New weight per variant key; every variant must be given.

    Returns:
        The updated experiment and the share of units that switch variant.

    Raises:
        InvalidInput: weights name unknown variants, miss one, or are invalid.
    """
    keys = [v.key for v in experiment.variants]
    if set(weights) != set(keys):
        raise InvalidInput(
            f"must give a weight for exactly the variants {keys}, got {sorted(weights)}",
            path="weights",
        )
    new_variants = [
        msgspec.structs.replace(v, weight=float(weights[v.key])) for v in experiment.variants
    ]
    # Validate the new weights through the model itself (finite, >= 0, sum to 1).
    candidate = msgspec.structs.replace(experiment, variants=new_variants, allocation=None)
    current = allocation_of(experiment).ranges()
    targets = dict(zip(keys, bucket_counts([weights[k] for k in keys]), strict=True))
    freed: Ranges = []
    kept: dict[str, Ranges] = {}
    for key in keys:
        ranges = list(current.get(key, []))
        surplus = sum(e - s for s, e in ranges) - targets[key]
        while surplus > 0:
            s, e = ranges.pop()
            take = min(surplus, e - s)
            freed.append((e - take, e))
            if e - take > s:
                ranges.append((s, e - take))
            surplus -= take
        kept[key] = ranges
    moved = sum(e - s for s, e in freed)
    freed.sort()
    for key in keys:
        deficit = targets[key] - sum(e - s for s, e in kept[key])
        while deficit > 0:
            s, e = freed.pop(0)
            take = min(deficit, e - s)
            kept[key].append((s, s + take))
            if s + take < e:
                freed.insert(0, (s + take, e))
            deficit -= take
    merged = Allocation.from_ranges(kept).ranges()
    result = msgspec.structs.replace(candidate, allocation={k: merged.get(k, []) for k in keys})
    return ReweightResult(result, moved / BUCKETS)
