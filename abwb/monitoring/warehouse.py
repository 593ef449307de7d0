"""The monitor's statistics computed where the data is (``abwb monitor --warehouse URL``).

What belongs here: :func:`warehouse_states`, which gives each monitored subject the
:class:`~abwb.monitoring.accumulator.SubjectState` the embedded accumulator would
have built — SRM counts per variant, crossovers, guardrail and primary sufficient
statistics, exposure counts and the latest exposure — by running the metric pipeline
of :mod:`abwb.metrics` (the same SQL plan as the readout) in the warehouse. Only
aggregates come back; the checks, alerts and actions of :mod:`abwb.monitoring.job`
are unchanged.

How it matches the embedded monitor. Every pass recomputes from all rows before
``until`` (a warehouse holds them; there is no unit-level state to keep), with the
monitor's metric semantics: units count in the variant of their first exposure
(``crossovers="first"``), no CUPED covariate and no percentile cap
(:func:`monitored_definition`; the readout applies those). A rollout's variants other
than its variation pool into ``control`` with ``+``, as its exposures are folded
embedded; a rollout reads the latest phase logged under its key. This pass's exposure
count (exposure health) is the change of the total since the previous pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import msgspec

from abwb.config.metric import Capping, MetricDefinition
from abwb.metrics import WarehouseSource, compute_statistics
from abwb.metrics.warehouse import open_engine
from abwb.monitoring.accumulator import ROLLOUT_CONTROL, SubjectSpec, SubjectState
from abwb.stats.summary import MeanStats, RatioStats

__all__ = ["monitored_definition", "warehouse_states"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def monitored_definition(metric: MetricDefinition) -> MetricDefinition:
    """``metric`` as the monitor measures it: no CUPED covariate, no percentile cap.

    Examples:
        >>> m = MetricDefinition(key="rev", kind="sum", event="buy", value_column="value",
        ...                      cuped_window_s=86400,
        ...                      capping=Capping(absolute=100.0, percentile=0.99))
        >>> d = monitored_definition(m)
        >>> d.cuped_window_s, d.capping
        (None, Capping(absolute=100.0, percentile=None))
    """
    cap = metric.capping
    if cap is not None and cap.percentile is not None:
        cap = None if cap.absolute is None else Capping(absolute=cap.absolute)
    return msgspec.structs.replace(metric, cuped_window_s=None, capping=cap)


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)


def _pooled[T: (int, MeanStats | RatioStats)](
    spec: SubjectSpec, per_variant: Mapping[str, T]
) -> dict[str, T]:
    """Per subject arm: a rollout's non-included variants pooled into ``control``."""
    if spec.treatment_variant is None:
        return dict(per_variant)
    out: dict[str, T] = {}
    for variant, value in per_variant.items():
        arm = variant if variant == spec.treatment_variant else ROLLOUT_CONTROL
        out[arm] = value if arm not in out else out[arm] + value
    return out


def warehouse_states(
    source: WarehouseSource,
    members: Sequence[tuple[SubjectSpec, SubjectState]],
    *,
    until: datetime,
    trailing_passes: int = 10,
) -> list[SubjectState]:
    """Each subject's state recomputed in the warehouse from every row before ``until``.

    Args:
        source: Where the exposures and events are.
        members: Subjects with their previous state (SRM history, running minimum
            p-values, trailing exposure counts and totals are carried over).
        until: Exclusive end of the data (the pass's ``now - lateness``).
        trailing_passes: How many pass windows of exposure history to keep.

    Returns:
        The new states, in the order of ``members``.

    Raises:
        StorageError: The warehouse failed (the caller keeps the old states).
        InvalidInput: A metric the pipeline refuses (named).
    """
    engine = open_engine(source)
    try:
        last_us = engine.last_exposures_us([s.ref.key for s, _ in members],
                                           before_us=_micros(until))
    finally:
        engine.close()
    states = []
    for spec, state in members:
        metrics = [monitored_definition(m) for m in spec.metrics]
        if metrics:
            results = compute_statistics(source, None, metrics, experiment=spec.ref.key,
                                         phase=spec.phase, as_of=until, crossovers="first")
            quality = results.quality
            stats = {key: _pooled(spec, per_variant)
                     for key, per_variant in results.statistics.items()}
        else:
            results = compute_statistics(source, None, [_COUNT_ONLY], experiment=spec.ref.key,
                                         phase=spec.phase, as_of=until, crossovers="first")
            quality, stats = results.quality, {}
        total = sum(quality.exposures_per_variant.values())
        duration_s = 0.0 if state.watermark is None else (until - state.watermark).total_seconds()
        # A first pass covers all history: not a rate sample (as embedded).
        trailing = state.trailing if state.watermark is None else (
            (*state.trailing, (total - state.exposures_total, duration_s))
            [-(trailing_passes + 1):])
        last = last_us.get(spec.ref.key)
        states.append(replace(
            state, counts=_pooled(spec, quality.units_per_variant),
            crossed=quality.crossover_units, stats=stats, watermark=until,
            last_exposure_at=None if last is None else _EPOCH + timedelta(microseconds=last),
            trailing=trailing, exposures_total=total,
        ))
    return states


#: A subject without metrics still needs its unit counts (SRM, exposure health).
_COUNT_ONLY = MetricDefinition(key="abwb_monitor_units", kind="count", event="abwb_none")
