"""Per metric × variant results for a readout: the analysis table and its frame.

What belongs here: running :func:`abwb.stats.analysis.analyze` over a readout's
metrics (the method for each metric kind × engine comes from the registry in
:mod:`abwb.stats.methods`, never from here), turning the typed results into the
readout's results frame, with each row's outcome (:func:`abwb.stats.ship_rule.outcome`)
and, for guardrails, whether harm is established
(:func:`abwb.stats.ship_rule.guardrail_status`), and the lift over time. No formula
and no method choice lives here.

"With CUPED" means the statistics carry a pre-period covariate, which
:mod:`abwb.metrics` adds for metrics with ``cuped_window_s`` (any kind but ratio);
the row's ``variance_reduction`` says how much variance the adjustment removed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from abwb.config.metric import MetricDefinition
from abwb.readout.model import MetricRole
from abwb.stats.analysis import AnalysisTable, analyze
from abwb.stats.bayesian import BayesResult
from abwb.stats.config import AnalysisConfig
from abwb.stats.methods import Comparison, Engine, MethodOptions, compare
from abwb.stats.results import ComparisonResult
from abwb.stats.ship_rule import Guardrail, Outcome, guardrail_status, outcome
from abwb.stats.summary import MeanStats, RatioStats

__all__ = [
    "OVER_TIME_SCHEMA",
    "RESULT_SCHEMA",
    "MetricData",
    "Stats",
    "analyse_metrics",
    "compare_metrics",
    "lift_over_time",
    "results_frame",
]

Stats = MeanStats | RatioStats

#: Columns (and dtypes) of :attr:`ReadoutResult.results`, one row per metric × treatment.
#: ``method`` names the test (``cuped_welch_t`` for CUPED), ``variance_reduction`` is the
#: share of variance CUPED removed (NaN otherwise), ``capping`` the metric's cap
#: (``p99`` for a percentile, else the absolute value; null when uncapped);
#: ``guardrail_status`` is ``harmed`` / ``not_harmed`` / ``not_established`` on
#: guardrail rows (null on others).
RESULT_SCHEMA: dict[str, Any] = {
    "metric": pl.String,
    "metric_name": pl.String,
    "role": pl.String,
    "kind": pl.String,
    "direction": pl.String,
    "variant": pl.String,
    "control": pl.String,
    "method": pl.String,
    "status": pl.String,
    "n_control": pl.Int64,
    "n_treatment": pl.Int64,
    "mean_control": pl.Float64,
    "mean_treatment": pl.Float64,
    "effect_abs": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "effect_rel": pl.Float64,
    "ci_low_rel": pl.Float64,
    "ci_high_rel": pl.Float64,
    "p_value": pl.Float64,
    "p_value_adjusted": pl.Float64,
    "chance_to_win": pl.Float64,
    "risk_treatment": pl.Float64,
    "variance_reduction": pl.Float64,
    "capping": pl.String,
    "outcome": pl.String,
    "guardrail_max_harm_rel": pl.Float64,
    "guardrail_status": pl.String,
}

#: Columns of :attr:`ReadoutResult.over_time` (cumulative results at the end of each day).
OVER_TIME_SCHEMA: dict[str, Any] = {
    "date": pl.Date,
    "metric": pl.String,
    "variant": pl.String,
    "units": pl.Int64,
    "effect_rel": pl.Float64,
    "ci_low_rel": pl.Float64,
    "ci_high_rel": pl.Float64,
}

_OVER_TIME_DRAWS = 20_000  # Monte Carlo draws per day for Beta-Binomial intervals


@dataclass(frozen=True, slots=True)
class MetricData:
    """One metric's definition, role and per-variant statistics.

    Args:
        definition: The metric definition.
        role: ``primary``, ``secondary`` or ``guardrail``.
        stats: Variant key → statistics over the whole readout window.
        daily: Cumulative statistics at the end of each day, oldest first.
    """

    definition: MetricDefinition
    role: MetricRole
    stats: Mapping[str, Stats]
    daily: Sequence[tuple[date, Mapping[str, Stats]]] = ()


_OUTCOME_WORDS: dict[Outcome, str] = {"no_data": "no data", "not_testable": "not testable"}


def _chance_to_win(result: Comparison, direction: str) -> float:
    if not isinstance(result, BayesResult):
        return math.nan
    ctb = result.chance_to_beat_control
    return ctb if direction == "increase" else 1.0 - ctb


def _row(data: MetricData, result: Comparison) -> dict[str, Any]:
    d = data.definition
    freq = result if isinstance(result, ComparisonResult) else None
    bayes = result if isinstance(result, BayesResult) else None
    read = outcome(result, d.direction)
    guard = (guardrail_status(result, Guardrail.of(d)) if data.role == "guardrail" else None)
    return {
        "metric": d.key,
        "metric_name": d.name or d.key,
        "role": data.role,
        "kind": d.kind,
        "direction": d.direction,
        "variant": result.treatment,
        "control": result.control,
        "method": result.method,
        "status": result.status,
        "n_control": result.n_control,
        "n_treatment": result.n_treatment,
        "mean_control": result.mean_control,
        "mean_treatment": result.mean_treatment,
        "effect_abs": result.effect_abs,
        "ci_low": result.ci_low,
        "ci_high": result.ci_high,
        "effect_rel": result.effect_rel,
        "ci_low_rel": result.ci_low_rel,
        "ci_high_rel": result.ci_high_rel,
        "p_value": freq.p_value if freq else math.nan,
        "p_value_adjusted": freq.p_value_adjusted if freq else math.nan,
        "chance_to_win": _chance_to_win(result, d.direction),
        "risk_treatment": bayes.risk_treatment if bayes else math.nan,
        "variance_reduction": freq.variance_reduction if freq else math.nan,
        "capping": _capping(d),
        "outcome": _OUTCOME_WORDS.get(read, read),
        "guardrail_max_harm_rel": (
            d.guardrail_max_harm_rel if d.guardrail_max_harm_rel is not None else math.nan
        ),
        "guardrail_status": guard,
    }


def _capping(definition: MetricDefinition) -> str | None:
    cap = definition.capping
    if cap is None:
        return None
    if cap.percentile is not None:
        return f"p{cap.percentile * 100:g}"
    return None if cap.absolute is None else f"{cap.absolute:g}"


def analyse_metrics(
    metrics: Sequence[MetricData],
    *,
    control: str,
    variants: Sequence[str],
    engine: Engine,
    config: AnalysisConfig,
    planned_n: int | None = None,
) -> AnalysisTable:
    """Analyse every treatment against control on every metric with data.

    Metrics without control data or without any treatment's data are left out (their
    rows would say nothing). The multiple-testing correction runs over the whole family
    in every engine, as :func:`abwb.stats.analysis.analyze` does.

    Args:
        metrics: Metrics with their per-variant statistics.
        control: Control variant key.
        variants: Treatment variant keys, in display order.
        engine: Statistics engine.
        config: Alpha, sidedness and correction.
        planned_n: Planned total units for the sequential engine (``None``: units so far).

    Returns:
        The typed table (results labelled with metric and treatment).
    """
    usable = [m for m in metrics if control in m.stats and any(v in m.stats for v in variants)]
    if not usable:
        return AnalysisTable(results=(), config=config, engine=engine)
    return analyze(
        {m.definition.key: {v: m.stats[v] for v in (control, *variants) if v in m.stats}
         for m in usable},
        control=control,
        kinds={m.definition.key: m.definition.kind for m in usable},
        engine=engine,
        config=config,
        planned_n=planned_n,
    )


def results_frame(table: AnalysisTable, metrics: Sequence[MetricData]) -> pl.DataFrame:
    """The readout's results frame from an analysis table.

    Args:
        table: Output of :func:`analyse_metrics`.
        metrics: The metrics analysed (definitions and roles).

    Returns:
        One row per metric × treatment, columns :data:`RESULT_SCHEMA`.
    """
    by_key = {m.definition.key: m for m in metrics}
    rows = [_row(by_key[r.metric], r) for r in table]
    if not rows:
        return pl.DataFrame(schema=RESULT_SCHEMA)
    return pl.DataFrame(rows, schema=RESULT_SCHEMA, orient="row")


def compare_metrics(
    metrics: Sequence[MetricData],
    *,
    control: str,
    variants: Sequence[str],
    engine: Engine,
    config: AnalysisConfig,
    planned_n: int | None = None,
) -> pl.DataFrame:
    """Compare every treatment variant with control on every metric, as a frame.

    Args:
        metrics: Metrics with their per-variant statistics.
        control: Control variant key.
        variants: Treatment variant keys, in display order.
        engine: Statistics engine.
        config: Alpha, sidedness and correction.
        planned_n: Planned total units for the sequential engine.

    Returns:
        One row per metric × treatment, columns :data:`RESULT_SCHEMA`.
    """
    table = analyse_metrics(metrics, control=control, variants=variants, engine=engine,
                            config=config, planned_n=planned_n)
    return results_frame(table, metrics)


def lift_over_time(
    metrics: Sequence[MetricData],
    *,
    control: str,
    variants: Sequence[str],
    engine: Engine,
    config: AnalysisConfig,
    planned_n: int | None = None,
) -> pl.DataFrame:
    """Relative lift and its interval at the end of each day, on cumulative data.

    The sequential engine chains each day's confidence sequence to the previous one,
    so the plotted band is the always-valid one a daily peeker may trust.

    Args:
        metrics: Metrics with their daily cumulative statistics.
        control: Control variant key.
        variants: Treatment variant keys.
        engine: Statistics engine.
        config: Alpha and sidedness.
        planned_n: Planned total units for the sequential engine.

    Returns:
        Columns :data:`OVER_TIME_SCHEMA`, ordered by metric, variant, date.
    """
    rows: list[dict[str, Any]] = []
    for data in metrics:
        for variant in variants:
            previous: Comparison | None = None
            for day, stats in data.daily:
                base, other = stats.get(control), stats.get(variant)
                if base is None or other is None:
                    continue
                options = MethodOptions(config=config, planned_n=planned_n, previous=previous,
                                        draws=_OVER_TIME_DRAWS)
                result = compare(base, other, kind=data.definition.kind, engine=engine,
                                 options=options, path=f"metrics[{data.definition.key!r}]")
                previous = result
                rows.append({
                    "date": day,
                    "metric": data.definition.key,
                    "variant": variant,
                    "units": base.n + other.n,
                    "effect_rel": result.effect_rel,
                    "ci_low_rel": result.ci_low_rel,
                    "ci_high_rel": result.ci_high_rel,
                })
    if not rows:
        return pl.DataFrame(schema=OVER_TIME_SCHEMA)
    return pl.DataFrame(rows, schema=OVER_TIME_SCHEMA, orient="row")
