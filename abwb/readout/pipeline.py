"""The readout's default metric reduction (an adapter onto the metric pipelines).

What belongs here: :func:`default_pipeline`, the :class:`~abwb.readout.build.MetricPipeline`
a readout uses when none is given. It reduces each unit's events inside the
metric window after its first exposure to one value, then per-variant
:class:`~abwb.stats.summary.MeanStats` / :class:`~abwb.stats.summary.RatioStats`
with ``from_values`` — overall and cumulative at the end of each day.

Interim: ``abwb.metrics`` (the shared DuckDB pipelines with capping and CUPED) had
not landed when the readout was written; this adapter covers the window and the
five metric kinds without capping or CUPED and is meant to delegate to
``abwb.metrics`` once it exists. Keep the contract (:class:`MetricPipeline`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import polars as pl

from abwb.config.metric import MetricDefinition
from abwb.readout.analysis import MetricData, Stats
from abwb.stats.summary import MeanStats, RatioStats

__all__ = ["default_pipeline", "unit_values"]


def _windowed(units: pl.DataFrame, events: pl.DataFrame, name: str,
              definition: MetricDefinition, until: datetime) -> pl.DataFrame:
    start = pl.col("first_exposed_at") + pl.duration(seconds=definition.window_start_s)
    cond = (pl.col("occurred_at") >= start) & (pl.col("occurred_at") < until)
    if definition.window_end_s is not None:
        end = pl.col("first_exposed_at") + pl.duration(seconds=definition.window_end_s)
        cond = cond & (pl.col("occurred_at") < end)
    return (
        events.filter(pl.col("name") == name)
        .join(units.select("unit_id", "first_exposed_at"), on="unit_id", how="inner")
        .filter(cond)
    )


def _per_unit(units: pl.DataFrame, events: pl.DataFrame, name: str, value: str | None,
              definition: MetricDefinition, until: datetime, alias: str) -> pl.DataFrame:
    hits = _windowed(units, events, name, definition, until)
    agg = pl.col(value).fill_null(0.0).sum() if value else pl.len().cast(pl.Float64)
    return hits.group_by("unit_id").agg(agg.alias(alias))


def unit_values(units: pl.DataFrame, events: pl.DataFrame, definition: MetricDefinition,
                *, until: datetime) -> pl.DataFrame:
    """One metric value per exposed unit (before ``until``).

    Args:
        units: ``unit_id``, ``variant``, ``first_exposed_at`` (exposed before ``until``).
        events: Events frame.
        definition: The metric.
        until: Exclusive end of the data.

    Returns:
        ``unit_id``, ``variant`` and ``y`` (``num``/``den`` for ratio metrics).
        ``mean`` metrics keep only units with at least one event.
    """
    base = units.filter(pl.col("first_exposed_at") < until).select("unit_id", "variant")
    if definition.kind == "ratio":
        num = _per_unit(units, events, definition.numerator_event or "",
                        definition.numerator_value_column, definition, until, "num")
        den = _per_unit(units, events, definition.denominator_event or "",
                        definition.denominator_value_column, definition, until, "den")
        return (base.join(num, on="unit_id", how="left").join(den, on="unit_id", how="left")
                .with_columns(pl.col("num").fill_null(0.0), pl.col("den").fill_null(0.0)))
    name = definition.event or ""
    if definition.kind in ("binomial", "count"):
        per = _per_unit(units, events, name, None, definition, until, "y")
        if definition.kind == "binomial":
            per = per.with_columns(pl.lit(1.0).alias("y"))
    else:
        hits = _windowed(units, events, name, definition, until)
        column = definition.value_column or "value"
        agg = pl.col(column).mean() if definition.kind == "mean" else pl.col(column).sum()
        per = hits.group_by("unit_id").agg(agg.fill_null(0.0).alias("y"))
    how = "inner" if definition.kind == "mean" else "left"
    return base.join(per, on="unit_id", how=how).with_columns(pl.col("y").fill_null(0.0))


def _stats(values: pl.DataFrame, definition: MetricDefinition,
           variants: Sequence[str]) -> dict[str, Stats]:
    out: dict[str, Stats] = {}
    for variant in variants:
        part = values.filter(pl.col("variant") == variant)
        if definition.kind == "ratio":
            out[variant] = RatioStats.from_values(part["num"].to_numpy(), part["den"].to_numpy())
        else:
            out[variant] = MeanStats.from_values(part["y"].to_numpy())
    return out


def default_pipeline(
    units: pl.DataFrame,
    events: pl.DataFrame,
    definition: MetricDefinition,
    *,
    days: Sequence[date],
    until: datetime,
) -> MetricData:
    """Per-variant statistics over the window, and cumulative at the end of each day.

    Args:
        units: ``unit_id``, ``variant``, ``first_exposed_at``.
        events: Events frame (``EVENT_SCHEMA``).
        definition: The metric.
        days: Days (UTC) for the cumulative series.
        until: Exclusive end of the readout window.

    Returns:
        The metric's data (role ``primary``; the caller sets the real role).
    """
    variants = sorted(units["variant"].unique().to_list())
    overall = _stats(unit_values(units, events, definition, until=until), definition, variants)
    daily = []
    for day in days:
        end = min(until, datetime.combine(day + timedelta(days=1), datetime.min.time(),
                                          tzinfo=until.tzinfo))
        values = unit_values(units, events, definition, until=end)
        daily.append((day, _stats(values, definition, variants)))
    return MetricData(definition=definition, role="primary", stats=overall, daily=daily)
