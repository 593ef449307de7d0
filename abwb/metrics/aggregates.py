"""Results from per-variant aggregates computed elsewhere (a warehouse abwb cannot reach).

What belongs here: :func:`from_aggregates`, which turns the rows of the query that
``abwb sql KEY --dialect D`` prints (columns
:data:`abwb.metrics.sql_query.AGGREGATE_COLUMNS`), run by a data team on their own
warehouse, into the same :class:`~abwb.metrics.results.MetricResults` that
:func:`~abwb.metrics.compute_statistics` returns — with missing variants, unknown
variants and the SRM test when the experiment config is given.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from abwb.config.experiment import Experiment
from abwb.config.metric import MetricDefinition
from abwb.errors import InvalidInput, Problem
from abwb.metrics.plan import MetricPlan, ValuePlan, plan_metrics
from abwb.metrics.results import (
    AssignmentAudit,
    DataQualityResult,
    MetricResults,
    stats_from_frame,
    variant_checks,
)
from abwb.metrics.sql_engine import output_from_rows
from abwb.metrics.sql_query import AGGREGATE_COLUMNS

__all__ = ["from_aggregates"]


def _inferred_plans(frame: pl.DataFrame) -> list[MetricPlan]:
    # Without definitions, a metric is a ratio when it carries denominator sums and
    # has a CUPED covariate when it carries covariate sums.
    stats = frame.filter(pl.col("section") == "stats")
    plans = []
    for i, key in enumerate(stats["metric"].unique(maintain_order=True).to_list()):
        rows = stats.filter(pl.col("metric") == key)
        ratio = rows["den_total"].null_count() < rows.height
        cov = rows["covariate_total"].null_count() < rows.height
        value = ValuePlan(event="", how="sum", value_column=None, start_us=0, end_us=None)
        plans.append(MetricPlan(
            key=str(key), kind="ratio" if ratio else "sum", index=i, value=value,
            denominator=value if ratio else None, covariate=value if cov else None,
            cap_absolute=None, cap_percentile=None))
    return plans


def from_aggregates(
    frame: pl.DataFrame,
    *,
    experiment: str | Experiment = "",
    metrics: Sequence[MetricDefinition | str] = (),
    catalog: Sequence[MetricDefinition] = (),
) -> MetricResults:
    """Build ``MetricResults`` from the per-variant rows of ``abwb sql``'s query.

    Args:
        frame: The query's result with :data:`~abwb.metrics.sql_query.AGGREGATE_COLUMNS`.
        experiment: Experiment key, or its config (adds missing/unknown variants and
            the SRM test; the audit is ``skipped``: run ``abwb sql --audit`` for it).
        metrics: The definitions the query was printed for (kinds and CUPED); default:
            inferred from which sums are present.
        catalog: Known definitions for metrics given by key.

    Returns:
        The statistics and data quality, as :func:`~abwb.metrics.compute_statistics`.

    Raises:
        InvalidInput: a missing column, or a metric in ``metrics`` with no row.

    Examples:
        >>> import polars as pl
        >>> rows = [("stats", "buyers", "control", 10, 2.0, 2.0) + (None,) * 6,
        ...         ("stats", "buyers", "treatment", 10, 4.0, 4.0) + (None,) * 6,
        ...         ("units", None, "control", 10) + (None,) * 8,
        ...         ("units", None, "treatment", 10) + (None,) * 8]
        >>> r = from_aggregates(pl.DataFrame(rows, schema=list(AGGREGATE_COLUMNS),
        ...                                  orient="row"), experiment="e")
        >>> r["buyers"]["treatment"].mean, r.quality.units_per_variant
        (0.4, {'control': 10, 'treatment': 10})
    """
    missing = [c for c in AGGREGATE_COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidInput([Problem(f"frame.{c}", f"missing column; got {frame.columns}")
                            for c in missing])
    key, config = (experiment.key, experiment) if isinstance(experiment, Experiment) else (
        experiment, None)
    plans = plan_metrics(metrics, catalog=catalog) if metrics else _inferred_plans(frame)
    out = output_from_rows(frame.select(AGGREGATE_COLUMNS).rows())
    logged = set(out.units_per_variant) | set(out.exposures_per_variant)
    variants: tuple[str, ...] = tuple(sorted(logged))
    if config is not None:
        names = [v.key for v in sorted(config.variants, key=lambda v: not v.is_control)]
        variants = (*names, *sorted(logged - set(names)))
    missing_v, unknown, srm = variant_checks(config, out.exposures_per_variant,
                                             out.units_per_variant)
    phase = config.phase if config is not None else 1
    quality = DataQualityResult(
        experiment=key, phase=phase, exposures_per_variant=out.exposures_per_variant,
        units_per_variant=out.units_per_variant, crossover_units=out.crossover_units,
        crossovers_excluded=True, events_before_exposure=out.events_before_exposure,
        missing_variants=missing_v, unknown_variants=unknown, srm=srm,
        audit=AssignmentAudit("skipped", note="aggregates computed outside abwb"))
    return MetricResults(
        experiment=key, phase=phase, as_of=None, engine="external", variants=variants,
        statistics=stats_from_frame(out.stats, plans, variants), quality=quality)
