"""The metric pipeline in pure polars (lazy, streaming where the plan allows).

What belongs here: :class:`PolarsEngine`, the same pipeline as
:mod:`abwb.metrics.duckdb_engine` written with polars expressions, for users without
DuckDB in the loop and as the cross-check that keeps both honest: one shared
fixture must give identical statistics in both engines.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from abwb.metrics.engine import EngineOutput, PipelineRequest
from abwb.metrics.inputs import PreparedSource
from abwb.metrics.plan import MetricPlan, ValuePlan
from abwb.metrics.results import STATS_SCHEMA

__all__ = ["PolarsEngine"]

_KEYS = ["unit_type", "unit_id"]


def _epoch_us(column: str) -> pl.Expr:
    return pl.col(column).dt.epoch("us")


def _in_window(part: ValuePlan) -> pl.Expr:
    cond = (pl.col("name") == part.event) & (pl.col("dt") >= part.start_us)
    if part.end_us is not None:
        cond = cond & (pl.col("dt") < part.end_us)
    return cond


def _aggregates(part: ValuePlan, alias: str) -> list[pl.Expr]:
    cond = _in_window(part)
    if part.how in ("any", "count"):
        hits = cond.cast(pl.Int64).sum()
        value = (hits > 0) if part.how == "any" else hits
        return [value.cast(pl.Float64).alias(alias)]
    col = pl.col(part.value_column or "value")
    total = pl.when(cond).then(col).sum()
    if part.how == "sum":
        return [total.alias(alias)]
    valued = (cond & col.is_not_null()).cast(pl.Int64).sum()
    return [pl.when(valued > 0).then(total / valued).alias(alias)]


def _cap(expr: pl.Expr, threshold: float | None) -> pl.Expr:
    if threshold is None:
        return expr
    return pl.when(expr > threshold).then(pl.lit(threshold)).otherwise(expr)


def _collect(lazy: pl.LazyFrame) -> pl.DataFrame:
    # The streaming engine keeps memory bounded on large inputs.
    return lazy.collect(engine="streaming")


class PolarsEngine:
    """Runs the pipeline with polars lazy frames.

    Args:
        exposures: Prepared exposures.
        events: Prepared events.
    """

    name = "polars"

    def __init__(self, exposures: PreparedSource, events: PreparedSource) -> None:
        self.exposures = exposures.lazy
        self.events = events.lazy

    def latest_phase(self, experiment: str) -> int | None:
        """Highest phase with exposures of ``experiment``."""
        value = _collect(
            self.exposures.filter(pl.col("experiment") == experiment).select(pl.col("phase").max())
        ).item()
        return None if value is None else int(value)

    def data_span_us(self, experiment: str) -> tuple[int, int] | None:
        """First exposure and last exposure-or-event instant (epoch µs)."""
        exp = _collect(self.exposures.filter(pl.col("experiment") == experiment).select(
            _epoch_us("exposed_at").min().alias("lo"), _epoch_us("exposed_at").max().alias("hi")))
        if exp["lo"][0] is None:
            return None
        last_event = _collect(self.events.select(_epoch_us("occurred_at").max())).item()
        hi = int(exp["hi"][0]) if last_event is None else max(int(exp["hi"][0]), int(last_event))
        return int(exp["lo"][0]), hi

    def run(self, request: PipelineRequest) -> EngineOutput:
        """Run one pass; see :class:`~abwb.metrics.engine.PipelineEngine`."""
        exp = self.exposures.filter(
            (pl.col("experiment") == request.experiment) & (pl.col("phase") == request.phase)
        ).select(*_KEYS, "variant", _epoch_us("exposed_at").alias("t"))
        if request.as_of_us is not None:
            exp = exp.filter(pl.col("t") < request.as_of_us)
        exp_df = _collect(exp)
        all_units = (
            exp_df.group_by(_KEYS)
            .agg(pl.col("t").min().alias("first_t"),
                 pl.col("variant").sort_by("t", "variant").first(),
                 pl.col("variant").n_unique().alias("n_variants"))
        )
        units = all_units
        if request.crossovers == "exclude":
            units = units.filter(pl.col("n_variants") == 1)
        units = units.drop("n_variants")
        values = self._unit_values(units, request)
        caps = self._thresholds(values, request.plans)
        capped = values.with_columns(
            _cap(pl.col(c), t).alias(c) for c, t in caps.items() if t is not None
        )
        return EngineOutput(
            stats=self._stats(capped, request.plans),
            units=capped.drop("pre_events") if request.keep_units else None,
            exposures_per_variant=_counts(exp_df),
            units_per_variant=_counts(units),
            crossover_units=all_units.filter(pl.col("n_variants") > 1).height,
            events_before_exposure=int(values["pre_events"].sum()),
            pairs=exp_df.select(*_KEYS, "variant").unique() if request.keep_pairs else None,
        )

    def _unit_values(self, units: pl.DataFrame, request: PipelineRequest) -> pl.DataFrame:
        plans = request.plans
        names = sorted({part.event for p in plans for _, part in p.parts()})
        ev = self.events.filter(pl.col("name").is_in(names))
        if request.as_of_us is not None:
            ev = ev.filter(_epoch_us("occurred_at") < request.as_of_us)
        ev = ev.join(units.lazy().select(*_KEYS, "first_t"), on=_KEYS, how="inner").with_columns(
            (_epoch_us("occurred_at") - pl.col("first_t")).alias("dt"))
        aggs = [(pl.col("dt") < 0).cast(pl.Int64).sum().alias("pre_events")]
        for p in plans:
            for name, part in p.parts():
                aggs.extend(_aggregates(part, p.column(name)))
        per_unit = _collect(ev.group_by(_KEYS).agg(aggs))
        joined = units.join(per_unit, on=_KEYS, how="left")
        fills = [pl.col("pre_events").fill_null(0)]
        for p in plans:
            for name, part in p.parts():
                if part.how != "mean":
                    fills.append(pl.col(p.column(name)).fill_null(0.0))
        return joined.with_columns(fills)

    @staticmethod
    def _thresholds(values: pl.DataFrame, plans: Sequence[MetricPlan]) -> dict[str, float | None]:
        caps: dict[str, float | None] = {}
        for p in plans:
            for name, _ in p.parts():
                col = p.column(name)
                if name == "den":
                    caps[col] = None
                elif p.cap_percentile is not None:
                    q = values[col].quantile(p.cap_percentile, interpolation="linear")
                    caps[col] = None if q is None else float(q)
                else:
                    caps[col] = p.cap_absolute
        return caps

    @staticmethod
    def _stats(values: pl.DataFrame, plans: Sequence[MetricPlan]) -> pl.DataFrame:
        frames = []
        null = pl.lit(None, dtype=pl.Float64)
        for p in plans:
            y = pl.col(p.column("y"))
            if p.is_ratio:
                d = pl.col(p.column("den"))
                extra = [null, null, null, d.sum(), (d * d).sum(), (y * d).sum()]
            elif p.covariate is not None:
                x = pl.col(p.column("x")).fill_null(0.0)
                extra = [x.sum(), (x * x).sum(), (x * y).sum(), null, null, null]
            else:
                extra = [null] * 6
            names = list(STATS_SCHEMA)[5:]
            frames.append(
                values.filter(y.is_not_null())
                .group_by("variant")
                .agg(pl.len().alias("n"), y.sum().alias("total"), (y * y).sum().alias("total_sq"),
                     *(e.alias(n) for e, n in zip(extra, names, strict=True)))
                .select(pl.lit(p.key).alias("metric"), pl.all())
            )
        if not frames:  # no metrics: a unit count only (abwb.metrics.unit_days)
            return pl.DataFrame(schema=STATS_SCHEMA)
        stats = pl.concat(frames, how="vertical_relaxed")
        return stats.cast(dict(STATS_SCHEMA)).select(list(STATS_SCHEMA)).sort(  # type: ignore[arg-type]
            "metric", "variant")

    def close(self) -> None:
        """Nothing to release: polars frames are garbage-collected."""


def _counts(frame: pl.DataFrame) -> dict[str, int]:
    counts = frame.group_by("variant").len().sort("variant")
    return {str(v): int(n) for v, n in counts.iter_rows()}
