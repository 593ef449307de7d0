"""The readout's metric statistics, taken from :mod:`abwb.metrics` (the one metric pipeline).

What belongs here: :func:`readout_statistics` — read the experiment's exposures and
the metrics' events from an ``EventStore`` once (or leave them in a warehouse: a
:class:`~abwb.metrics.WarehouseSource` runs every step where the data is and only
aggregates come back), run
:func:`~abwb.metrics.compute_statistics` over the readout window (per-variant
statistics with capping and CUPED covariates, data quality, the assignment audit,
the analysed units) and :func:`~abwb.metrics.daily_cumulative_statistics` for lift
over time and :func:`~abwb.metrics.unit_days` for exposures per day, and hand the
result to the readout as :class:`~abwb.readout.analysis.MetricData`.
Metric semantics (windows, capping, CUPED, first exposure, crossovers) are defined
in :mod:`abwb.metrics.plan`, never here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

from abwb.config.experiment import Experiment
from abwb.config.metric import MetricDefinition
from abwb.metrics import (
    UNIT_DAYS_SCHEMA,
    DataQualityResult,
    FrameSource,
    MetricPlan,
    WarehouseSource,
    compute_statistics,
    daily_cumulative_statistics,
    plan_metrics,
    read_store_frames,
    stats_from_frame,
    unit_days,
)
from abwb.readout.analysis import MetricData, Stats
from abwb.readout.model import MetricRole
from abwb.store.protocol import EventStore

__all__ = ["UNIT_DAYS_SCHEMA", "ReadoutStatistics", "readout_statistics"]


@dataclass(frozen=True, slots=True)
class ReadoutStatistics:
    """What the metric pipeline gives a readout.

    Attributes:
        metrics: Per metric (in the order asked): definition, role, statistics over the
            window and cumulative statistics at the end of each day.
        quality: The pipeline's data-quality findings and assignment audit.
        units: Analysed units (crossovers excluded) per variant and UTC day of first
            exposure, columns :data:`~abwb.metrics.UNIT_DAYS_SCHEMA` (never one row per unit).
        notes: The pipeline's caveats (e.g. CUPED ignored for a ratio metric).
    """

    metrics: tuple[MetricData, ...]
    quality: DataQualityResult
    units: pl.DataFrame
    notes: tuple[str, ...] = ()


def readout_statistics(
    event_store: EventStore | WarehouseSource,
    experiment: Experiment,
    metrics: Sequence[tuple[MetricDefinition, MetricRole]],
    *,
    until: datetime,
    layer_salts: Mapping[str, str] | None = None,
) -> ReadoutStatistics:
    """Statistics, data quality and daily cumulative statistics of one readout.

    Args:
        event_store: Where exposures and events are read from, or the warehouse the
            whole pipeline runs in (only aggregates cross the wire).
        experiment: The experiment config (phase, weights, audit).
        metrics: Metric definitions with their role, primary first.
        until: Exclusive end of the readout window (timezone-aware).
        layer_salts: Layer key → salt, for the audit of layers with a custom salt.

    Returns:
        The statistics; the last day of the daily series equals the window's.

    Raises:
        InvalidInput: As :func:`abwb.metrics.compute_statistics`.
        StorageError: The store failed.
    """
    definitions = [d for d, _ in metrics]
    plans = plan_metrics(definitions)
    exposures: FrameSource
    events: FrameSource
    if isinstance(event_store, WarehouseSource):
        exposures, events = event_store, None
    else:
        exposures, events = read_store_frames(event_store, experiment=experiment.key,
                                              plans=plans, until=until)
    window = compute_statistics(exposures, events, definitions, experiment=experiment,
                                as_of=until, layer_salts=layer_salts)
    daily = _by_day(
        daily_cumulative_statistics(exposures, events, definitions, experiment=experiment,
                                    as_of=until),
        plans, window.variants,
    )
    data = tuple(
        MetricData(d, role, window[d.key], tuple((day, stats[d.key]) for day, stats in daily))
        for d, role in metrics
    )
    units = unit_days(exposures, events, experiment=experiment, as_of=until)
    return ReadoutStatistics(metrics=data, quality=window.quality, units=units,
                             notes=window.notes)


def _by_day(
    daily: pl.DataFrame, plans: list[MetricPlan], variants: tuple[str, ...]
) -> list[tuple[date, Mapping[str, Mapping[str, Stats]]]]:
    return [
        (day, stats_from_frame(part, plans, variants))
        for (day,), part in sorted(daily.partition_by("day", as_dict=True).items())
    ]
