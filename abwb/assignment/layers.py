"""Layer bookkeeping: taken and free bucket ranges, and first-fit allocation.

What belongs here: which ranges of a layer experiments hold, what is free, and
placing a new experiment's requested share.

A layer's bucket space is ``[0, 10000)`` (hash version 1). Each experiment placed in
the layer owns half-open ranges of it (:class:`~abwb.config.LayerPlacement`); ranges
of experiments that still hold units (scheduled, running, paused) never intersect,
which is what makes a unit belong to at most one experiment per layer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from abwb.config.bundle import ConfigBundle
from abwb.config.experiment import BUCKETS, Experiment, LayerPlacement
from abwb.errors import Conflict, InvalidInput, NotFound

__all__ = [
    "OCCUPYING_STATUSES",
    "LayerUsage",
    "allocate",
    "check_placement",
    "layer_usage",
]

#: Statuses whose experiments keep their layer ranges (paused ones resume with them).
OCCUPYING_STATUSES = frozenset({"scheduled", "running", "paused"})

Range = tuple[int, int]


@dataclass(frozen=True, slots=True)
class LayerUsage:
    """Occupancy of one layer.

    Attributes:
        layer: Layer key.
        occupants: ``(experiment key, ranges)`` of experiments holding ranges.
        free: Free half-open ranges, ascending.
    """

    layer: str
    occupants: tuple[tuple[str, tuple[Range, ...]], ...]
    free: tuple[Range, ...]

    @property
    def free_buckets(self) -> int:
        """Number of free buckets."""
        return sum(end - start for start, end in self.free)

    @property
    def free_fraction(self) -> float:
        """Free share of the layer, 0 to 1."""
        return self.free_buckets / BUCKETS

    def __str__(self) -> str:
        return f"layer {self.layer}: {self.free_fraction * 100:.1f} % free"


def layer_usage(
    bundle: ConfigBundle,
    layer: str,
    *,
    exclude: str | None = None,
    statuses: Iterable[str] = OCCUPYING_STATUSES,
) -> LayerUsage:
    """Who holds which ranges of ``layer`` and what is free.

    Args:
        bundle: The current config.
        layer: Layer key.
        exclude: An experiment key to leave out (e.g. the one being re-placed).
        statuses: Statuses that hold ranges.

    Returns:
        The usage; ``str(usage)`` reads ``layer checkout-layer: 35.0 % free``.

    Raises:
        NotFound: no layer ``layer`` in the bundle.

    Examples:
        >>> from abwb.config import Experiment, Layer, LayerPlacement, Variant
        >>> vs = [Variant(key="c", weight=0.5, is_control=True), Variant(key="t", weight=0.5)]
        >>> bundle = ConfigBundle(layers=[Layer(key="checkout-layer")], experiments=[
        ...     Experiment(key="a", variants=vs, status="running",
        ...                layer=LayerPlacement("checkout-layer", [(0, 6500)]))])
        >>> str(layer_usage(bundle, "checkout-layer"))
        'layer checkout-layer: 35.0 % free'
    """
    if not any(x.key == layer for x in bundle.layers):
        known = sorted(x.key for x in bundle.layers)
        raise NotFound(f"unknown layer {layer!r}; known layers: {known}")
    wanted = frozenset(statuses)
    occupants = tuple(
        (e.key, tuple(sorted((int(s), int(t)) for s, t in e.layer.ranges)))
        for e in bundle.experiments
        if e.layer is not None and e.layer.layer == layer and e.status in wanted
        and e.key != exclude
    )
    taken = sorted(r for _, ranges in occupants for r in ranges)
    free: list[Range] = []
    cursor = 0
    for start, end in taken:
        if start > cursor:
            free.append((cursor, start))
        cursor = max(cursor, end)
    if cursor < BUCKETS:
        free.append((cursor, BUCKETS))
    return LayerUsage(layer=layer, occupants=occupants, free=tuple(free))


def allocate(
    bundle: ConfigBundle,
    layer: str,
    experiment: str,
    traffic_fraction: float,
    *,
    statuses: Iterable[str] = OCCUPYING_STATUSES,
) -> LayerPlacement:
    """Place ``experiment`` in ``layer`` with ``traffic_fraction`` of its buckets.

    First fit: the lowest free range large enough is used; when no single range is,
    the lowest free ranges are combined. The experiment's own current ranges (if it is
    already in the bundle) are ignored, so this also re-places an experiment.

    Args:
        bundle: The current config.
        layer: Layer key.
        experiment: Key of the experiment to place.
        traffic_fraction: Share of the layer, in (0, 1].
        statuses: Statuses that hold ranges.

    Returns:
        The placement to store on the experiment.

    Raises:
        InvalidInput: ``traffic_fraction`` is not in (0, 1] or rounds to 0 buckets.
        NotFound: unknown layer.
        Conflict: not enough free space; the message says how much is free.

    Examples:
        >>> from abwb.config import Layer
        >>> allocate(ConfigBundle(layers=[Layer(key="l")]), "l", "new-exp", 0.25)
        LayerPlacement(layer='l', ranges=[(0, 2500)])
    """
    if not isinstance(traffic_fraction, int | float) or not (
        math.isfinite(traffic_fraction) and 0 < traffic_fraction <= 1
    ):
        raise InvalidInput(f"must be a fraction in (0, 1], got {traffic_fraction!r}",
                           path="traffic_fraction")
    need = math.floor(traffic_fraction * BUCKETS + 0.5)
    if need < 1:
        raise InvalidInput(
            f"{traffic_fraction!r} of {BUCKETS} buckets rounds to 0; ask for at least "
            f"{1 / BUCKETS}", path="traffic_fraction")
    usage = layer_usage(bundle, layer, exclude=experiment, statuses=statuses)
    if usage.free_buckets < need:
        raise Conflict(
            f"{usage}; experiment {experiment!r} asks for {need / BUCKETS * 100:.1f} %",
            reasons=[f"{key!r} holds {_show(ranges)}" for key, ranges in usage.occupants],
        )
    for start, end in usage.free:
        if end - start >= need:
            return LayerPlacement(layer, [(start, start + need)])
    ranges: list[Range] = []
    for start, end in usage.free:
        take = min(end - start, need)
        ranges.append((start, start + take))
        need -= take
        if need == 0:
            break
    return LayerPlacement(layer, ranges)


def check_placement(
    experiment: Experiment,
    bundle: ConfigBundle,
    *,
    statuses: Iterable[str] = OCCUPYING_STATUSES,
) -> None:
    """Refuse a placement that overlaps another experiment's ranges in the same layer.

    Args:
        experiment: The experiment with its (proposed) placement; no placement passes.
        bundle: The current config.
        statuses: Statuses that hold ranges.

    Raises:
        NotFound: the placement names an unknown layer.
        Conflict: the ranges intersect others'; ``reasons`` lists each intersection.
    """
    if experiment.layer is None:
        return
    usage = layer_usage(bundle, experiment.layer.layer, exclude=experiment.key,
                        statuses=statuses)
    reasons = [
        f"[{max(s1, s2)}, {min(e1, e2)}) is held by {key!r}"
        for s1, e1 in experiment.layer.ranges
        for key, ranges in usage.occupants
        for s2, e2 in ranges
        if max(s1, s2) < min(e1, e2)
    ]
    if reasons:
        raise Conflict(
            f"experiment {experiment.key!r} over-allocates layer {usage.layer!r} "
            f"({usage}): its ranges {_show(experiment.layer.ranges)} overlap other experiments",
            reasons=reasons,
        )


def _show(ranges: Iterable[tuple[int, int]]) -> str:
    return ", ".join(f"[{s}, {e})" for s, e in ranges)
