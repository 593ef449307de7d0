"""Incremental accumulation: fold new exposure/event rows into pooled per-variant statistics.

What belongs here: ``SubjectSpec`` (what is monitored for one running experiment
or active rollout, derived from the config bundle), ``SubjectState`` (what has
been accumulated so far: per-unit running values, pooled ``MeanStats`` /
``RatioStats`` per metric and variant, unit counts, crossovers, watermark) and
:func:`accumulate`, which folds one pass's new rows into a state.

Why per-unit values are kept: a unit's metric value (e.g. its order count) grows
as events arrive, and Σy² is not additive over partial sums. The state keeps each
unit's running totals; a pass computes, for the units it touches only, the change
of Σy, Σy² (and n) and pools that *delta* into the statistics with ``+``. The
statistics always equal what a full recomputation would give, while a pass reads
only rows newer than the watermark.

Metric semantics follow :class:`~abwb.config.metric.MetricDefinition`: events count
inside ``[exposed_at + window_start_s, exposed_at + window_end_s)`` of the unit's
first exposure. Absolute capping applies; percentile capping needs the final
distribution and is left to the readout (the monitor uses uncapped values).
Rollout exposures are recorded under the rollout key: the variant equal to the
rollout's ``variation`` is the treatment, every other variant counts as control.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import polars as pl

from abwb.config.bundle import ConfigBundle
from abwb.config.metric import MetricDefinition
from abwb.monitoring.checks import MetricStats, SubjectRef
from abwb.stats.srm import SrmResult
from abwb.stats.summary import MeanStats, RatioStats

__all__ = [
    "ROLLOUT_CONTROL",
    "SubjectSpec",
    "SubjectState",
    "accumulate",
    "subjects_from_bundle",
]

#: Variant name under which a rollout's not-included units are pooled.
ROLLOUT_CONTROL = "control"
_UTC_US = pl.Datetime("us", "UTC")


@dataclass(frozen=True, slots=True)
class SubjectSpec:
    """What the monitor watches for one experiment or rollout.

    Args:
        ref: Kind and key.
        unit_type: Unit type of its exposures.
        control: Control variant key.
        treatments: Treatment variant keys.
        weights: Configured variant weights (SRM); ``None`` for rollouts.
        guardrails: Guardrail metric definitions.
        primary: Primary metric definitions (significance info alerts).
        phase: Only exposures of this phase count (experiments); ``None``: any.
        treatment_variant: For rollouts, the variation served to included units.
        auto_rollback: Whether a guardrail failure may roll the subject back.
    """

    ref: SubjectRef
    unit_type: str
    control: str
    treatments: tuple[str, ...]
    weights: dict[str, float] | None
    guardrails: tuple[MetricDefinition, ...] = ()
    primary: tuple[MetricDefinition, ...] = ()
    phase: int | None = None
    treatment_variant: str | None = None
    auto_rollback: bool = False

    @property
    def metrics(self) -> tuple[MetricDefinition, ...]:
        """Guardrail and primary metrics, each once, in a stable order."""
        seen: dict[str, MetricDefinition] = {}
        for m in (*self.guardrails, *self.primary):
            seen.setdefault(m.key, m)
        return tuple(seen.values())

    @property
    def event_names(self) -> set[str]:
        """Event names the metrics read."""
        names: set[str] = set()
        for m in self.metrics:
            names.update(n for n in (m.event, m.numerator_event, m.denominator_event) if n)
        return names


def subjects_from_bundle(bundle: ConfigBundle) -> list[SubjectSpec]:
    """Specs of every running experiment and active rollout in ``bundle``.

    Metric keys that the bundle does not define are skipped (``validate_bundle``
    reports them); a rollout whose guardrails are empty is still watched for
    exposure health.

    Args:
        bundle: The current configuration.

    Returns:
        One spec per monitored subject, experiments first.
    """
    defs = {m.key: m for m in bundle.metrics}
    specs: list[SubjectSpec] = []
    for exp in bundle.experiments:
        if exp.status != "running":
            continue
        control = exp.control.key
        specs.append(
            SubjectSpec(
                ref=SubjectRef("experiment", exp.key),
                unit_type=exp.unit_type,
                control=control,
                treatments=tuple(v.key for v in exp.variants if v.key != control),
                weights={v.key: v.weight for v in exp.variants},
                guardrails=tuple(defs[k] for k in exp.metrics.guardrails if k in defs),
                primary=tuple(defs[k] for k in exp.metrics.primary if k in defs),
                phase=exp.phase,
            )
        )
    flags = {f.key: f for f in bundle.flags}
    for ro in bundle.rollouts:
        if ro.status != "active":
            continue
        flag = flags.get(ro.flag_key)
        specs.append(
            SubjectSpec(
                ref=SubjectRef("rollout", ro.key),
                unit_type=getattr(flag, "unit_type", "user") or "user",
                control=ROLLOUT_CONTROL,
                treatments=(ro.variation,),
                weights=None,
                guardrails=tuple(defs[k] for k in ro.guardrails if k in defs),
                treatment_variant=ro.variation,
                auto_rollback=ro.auto_rollback,
            )
        )
    return specs


@dataclass(frozen=True, slots=True)
class SubjectState:
    """Everything accumulated for one subject; replaced (never mutated) each pass.

    Args:
        units: One row per unit: ``unit_id``, ``variant``, ``exposed_at``, ``crossed``
            and two running totals per metric (``m{i}_a``, ``m{i}_b``).
        counts: Units per variant (first exposure).
        crossed: Units seen in more than one variant.
        stats: Metric key → variant → pooled statistics.
        watermark: Rows strictly before this have been folded in.
        watching_since: When monitoring of the subject began.
        last_exposure_at: Latest exposure seen.
        trailing: ``(exposures, duration_s)`` of recent passes, oldest first.
        srm: Previous sequential SRM result (running-minimum p-value).
        metric_keys: Metric keys in the column order of ``units``.
        min_p: Dedup key → smallest always-valid p-value seen (running minimum).
        exposures_total: Exposure rows counted so far (warehouse mode, where each pass
            recounts everything: this pass's count is the difference).
    """

    units: pl.DataFrame
    counts: dict[str, int] = field(default_factory=dict)
    crossed: int = 0
    stats: dict[str, dict[str, MetricStats]] = field(default_factory=dict)
    watermark: datetime | None = None
    watching_since: datetime | None = None
    last_exposure_at: datetime | None = None
    trailing: tuple[tuple[int, float], ...] = ()
    srm: SrmResult | None = None
    metric_keys: tuple[str, ...] = ()
    min_p: dict[str, float] = field(default_factory=dict)
    exposures_total: int = 0

    @classmethod
    def empty(cls, spec: SubjectSpec, *, now: datetime) -> SubjectState:
        """A fresh state for ``spec``: no units, no statistics, watching from ``now``."""
        keys = tuple(m.key for m in spec.metrics)
        schema: dict[str, pl.DataType] = {
            "unit_id": pl.String(),
            "variant": pl.String(),
            "exposed_at": _UTC_US,
            "crossed": pl.Boolean(),
        }
        for i in range(len(keys)):
            schema[f"m{i}_a"] = pl.Float64()
            schema[f"m{i}_b"] = pl.Float64()
        return cls(units=pl.DataFrame(schema=schema), watching_since=now, metric_keys=keys)

    @property
    def total_units(self) -> int:
        """Units seen so far."""
        return sum(self.counts.values())


def _new_exposures(spec: SubjectSpec, exposures: pl.DataFrame) -> pl.DataFrame:
    """Per new unit-row: first variant, first exposure time, whether it saw several."""
    frame = exposures.filter(pl.col("unit_type") == spec.unit_type)
    if spec.phase is not None:
        frame = frame.filter(pl.col("phase") == spec.phase)
    if spec.treatment_variant is not None:
        frame = frame.with_columns(
            variant=pl.when(pl.col("variant") == spec.treatment_variant)
            .then(pl.col("variant"))
            .otherwise(pl.lit(ROLLOUT_CONTROL))
        )
    return (
        frame.sort("exposed_at")
        .group_by("unit_id")
        .agg(
            pl.col("variant").first(),
            pl.col("exposed_at").first(),
            (pl.col("variant").n_unique() > 1).alias("multi"),
        )
    )


def _value_expr(column: str | None) -> pl.Expr:
    """Per-event value: the ``value`` column, a named column, or a JSON property."""
    if column is None:
        return pl.lit(1.0)
    if column == "value":
        return pl.col("value").fill_null(0.0)
    return (
        pl.col("properties").str.json_path_match(f"$.{column}").cast(pl.Float64, strict=False)
        .fill_null(0.0)
    )


def _metric_aggs(metrics: Sequence[MetricDefinition]) -> list[pl.Expr]:
    """Per-unit increments ``d{i}_a`` / ``d{i}_b`` of each metric's running totals."""
    aggs: list[pl.Expr] = []
    offset = pl.col("offset_s")
    for i, m in enumerate(metrics):
        window = offset >= m.window_start_s
        if m.window_end_s is not None:
            window = window & (offset < m.window_end_s)
        if m.kind == "ratio":
            num = (pl.col("name") == m.numerator_event) & window
            den = (pl.col("name") == m.denominator_event) & window
            a = pl.when(num).then(_value_expr(m.numerator_value_column)).otherwise(0.0)
            b = pl.when(den).then(_value_expr(m.denominator_value_column)).otherwise(0.0)
        else:
            hit = (pl.col("name") == m.event) & window
            value = _value_expr(m.value_column if m.kind in ("sum", "mean") else None)
            a = pl.when(hit).then(value).otherwise(0.0)
            b = pl.when(hit).then(1.0).otherwise(0.0)
        aggs += [a.sum().alias(f"d{i}_a"), b.sum().alias(f"d{i}_b")]
    return aggs


def _y(metric: MetricDefinition, a: pl.Expr, b: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Unit value and inclusion flag from the running totals."""
    if metric.kind == "binomial":
        y = (a > 0).cast(pl.Float64)
    elif metric.kind == "mean":
        y = pl.when(b > 0).then(a / b).otherwise(0.0)
    else:
        y = a
    cap = metric.capping.absolute if metric.capping is not None else None
    if cap is not None and metric.kind != "binomial":
        y = y.clip(upper_bound=cap)
    included = (b > 0) if metric.kind == "mean" else pl.lit(True)
    return y, included.cast(pl.Float64)


def _delta_stats(
    metric: MetricDefinition, i: int, touched: pl.DataFrame
) -> dict[str, MetricStats]:
    """Change of the pooled statistics per variant caused by the touched units."""
    old_a, old_b = pl.col(f"m{i}_a_old"), pl.col(f"m{i}_b_old")
    new_a, new_b = pl.col(f"m{i}_a"), pl.col(f"m{i}_b")
    new_unit = pl.col("is_new").cast(pl.Float64)
    if metric.kind == "ratio":
        inc_old = 1.0 - new_unit
        frame = touched.group_by("variant").agg(
            (1.0 - inc_old).sum().alias("n"),
            (new_a - inc_old * old_a).sum().alias("num_total"),
            (new_a * new_a - inc_old * old_a * old_a).sum().alias("num_total_sq"),
            (new_b - inc_old * old_b).sum().alias("den_total"),
            (new_b * new_b - inc_old * old_b * old_b).sum().alias("den_total_sq"),
            (new_a * new_b - inc_old * old_a * old_b).sum().alias("num_den_total"),
        )
        return {
            r["variant"]: RatioStats(
                n=int(r["n"]), num_total=r["num_total"], num_total_sq=r["num_total_sq"],
                den_total=r["den_total"], den_total_sq=r["den_total_sq"],
                num_den_total=r["num_den_total"],
            )
            for r in frame.iter_rows(named=True)
        }
    y_new, inc_new = _y(metric, new_a, new_b)
    y_old, inc_old = _y(metric, old_a, old_b)
    inc_old = inc_old * (1.0 - new_unit)
    frame = touched.group_by("variant").agg(
        (inc_new - inc_old).sum().alias("n"),
        (inc_new * y_new - inc_old * y_old).sum().alias("total"),
        (inc_new * y_new * y_new - inc_old * y_old * y_old).sum().alias("total_sq"),
    )
    return {
        r["variant"]: MeanStats(n=round(r["n"]), total=r["total"], total_sq=r["total_sq"])
        for r in frame.iter_rows(named=True)
    }


def _pool(
    stats: dict[str, dict[str, MetricStats]], key: str, delta: dict[str, MetricStats]
) -> None:
    per_variant = stats.setdefault(key, {})
    for variant, d in delta.items():
        current = per_variant.get(variant)
        per_variant[variant] = d if current is None else current + d


def accumulate(
    spec: SubjectSpec,
    state: SubjectState,
    *,
    exposures: pl.DataFrame,
    events: pl.DataFrame,
    until: datetime,
    duration_s: float,
    trailing_passes: int = 10,
) -> SubjectState:
    """Fold one pass's new rows into ``state`` (pure: returns a new state).

    Args:
        spec: The subject.
        state: Accumulated so far.
        exposures: New exposures of this subject (``EXPOSURE_SCHEMA``), any order.
        events: New events (``EVENT_SCHEMA``); rows of other units are ignored.
        until: New watermark (exclusive end of the rows given).
        duration_s: Length of the pass window (exposure-rate history).
        trailing_passes: How many pass windows of history to keep.

    Returns:
        The new state.
    """
    keys = state.metric_keys
    metrics = {m.key: m for m in spec.metrics}
    ordered = [metrics[k] for k in keys if k in metrics]
    new_rows = _new_exposures(spec, exposures)
    old = state.units
    # Crossovers: a known unit exposed again under another variant, or a new unit
    # exposed to several variants within this batch.
    seen = new_rows.join(old.select("unit_id", "variant", "crossed"), on="unit_id", how="inner")
    newly_crossed = seen.filter(
        ((pl.col("variant") != pl.col("variant_right")) | pl.col("multi")) & ~pl.col("crossed")
    ).select("unit_id")
    fresh = new_rows.join(old.select("unit_id"), on="unit_id", how="anti")
    metric_cols = [c for c in old.columns if c.startswith("m")]
    fresh_units = fresh.select(
        "unit_id", "variant", "exposed_at", pl.col("multi").alias("crossed"),
        *[pl.lit(0.0).alias(c) for c in metric_cols],
    ).with_columns(pl.col("exposed_at").cast(_UTC_US))
    units = pl.concat([old, fresh_units], how="vertical") if fresh_units.height else old
    if newly_crossed.height:
        units = units.with_columns(
            crossed=pl.col("crossed") | pl.col("unit_id").is_in(newly_crossed["unit_id"].implode())
        )
    counts = dict(state.counts)
    for variant, n in fresh.group_by("variant").len().iter_rows():
        counts[variant] = counts.get(variant, 0) + int(n)
    crossed = state.crossed + newly_crossed.height + int(fresh["multi"].sum() or 0)

    stats = {k: dict(v) for k, v in state.stats.items()}
    if ordered:
        units, stats = _fold_events(spec.unit_type, ordered, units, fresh, events, stats)

    last = state.last_exposure_at
    if exposures.height:
        newest = exposures["exposed_at"].max()
        if isinstance(newest, datetime) and (last is None or newest > last):
            last = newest
    trailing = (*state.trailing, (exposures.height, duration_s))[-(trailing_passes + 1) :]
    return replace(
        state, units=units, counts=counts, crossed=crossed, stats=stats,
        watermark=until, last_exposure_at=last, trailing=trailing,
    )


def _fold_events(
    unit_type: str,
    metrics: list[MetricDefinition],
    units: pl.DataFrame,
    fresh: pl.DataFrame,
    events: pl.DataFrame,
    stats: dict[str, dict[str, MetricStats]],
) -> tuple[pl.DataFrame, dict[str, dict[str, MetricStats]]]:
    """Add event contributions to the units' running totals and pool the stat deltas."""
    joined = events.filter(pl.col("unit_type") == unit_type).join(
        units.select("unit_id", "exposed_at"), on="unit_id", how="inner"
    ).with_columns(
        offset_s=(pl.col("occurred_at") - pl.col("exposed_at")).dt.total_microseconds() / 1e6
    )
    increments = joined.group_by("unit_id").agg(_metric_aggs(metrics))
    touched_ids = pl.concat(
        [increments.select("unit_id"), fresh.select("unit_id")], how="vertical"
    ).unique()
    if touched_ids.height == 0:
        return units, stats
    old_cols = [f"m{i}_{s}" for i in range(len(metrics)) for s in ("a", "b")]
    touched = (
        units.join(touched_ids, on="unit_id", how="semi")
        .join(increments, on="unit_id", how="left")
        .with_columns(
            pl.col("unit_id").is_in(fresh["unit_id"].implode()).alias("is_new"),
            *[pl.col(c).alias(f"{c}_old") for c in old_cols],
        )
        .with_columns(
            *[
                (pl.col(f"m{i}_{s}") + pl.col(f"d{i}_{s}").fill_null(0.0)).alias(f"m{i}_{s}")
                for i in range(len(metrics))
                for s in ("a", "b")
            ]
        )
    )
    for i, metric in enumerate(metrics):
        _pool(stats, metric.key, _delta_stats(metric, i, touched))
    updated = touched.select(units.columns)
    units = units.update(updated, on="unit_id")
    return units, stats
