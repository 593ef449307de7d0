"""Per metric × variant comparisons for a readout: method choice, corrections, outcomes.

What belongs here: turning per-variant sufficient statistics (from the metric
pipelines) into the readout's results frame by calling :mod:`abwb.stats` — which
test fits which metric kind under which engine, the multiple-testing correction
across a role's rows, and the reading of each row as ``better`` / ``worse`` /
``inconclusive`` given the metric's direction. No formula lives here; every number
comes from an :mod:`abwb.stats` function.

Method choice:

============  ====================  ==========================  =====================
metric kind   frequentist           sequential                  bayesian
============  ====================  ==========================  =====================
binomial      two-proportion z      confidence sequence         Beta-Binomial
count / sum   Welch t               confidence sequence         Normal (flat prior)
/ mean
with CUPED    CUPED Welch t         confidence sequence         as without CUPED
ratio         delta-method z        delta-method z (fixed)      delta-method z (fixed)
============  ====================  ==========================  =====================

"With CUPED" means the statistics carry a pre-period covariate, which
:mod:`abwb.metrics` adds for metrics with ``cuped_window_s`` (any kind but ratio);
the row's ``variance_reduction`` says how much variance the adjustment removed.

Ratio metrics have no always-valid or Bayesian path in :mod:`abwb.stats` yet; they
fall back to the fixed-horizon delta-method test and the ``method`` column says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from abwb.config.metric import MetricDefinition
from abwb.errors import InvalidInput
from abwb.readout.model import Engine, MetricRole
from abwb.stats.analysis import MetricKind as AnalysisKind
from abwb.stats.analysis import analyze
from abwb.stats.bayesian import BayesResult, beta_binomial, normal_means
from abwb.stats.config import AnalysisConfig
from abwb.stats.corrections import adjust_p_values
from abwb.stats.frequentist import cuped_ttest, proportions_ztest, ratio_ztest, welch_ttest
from abwb.stats.results import ComparisonResult
from abwb.stats.sequential import confidence_sequence
from abwb.stats.summary import MeanStats, RatioStats

__all__ = [
    "OVER_TIME_SCHEMA",
    "RESULT_SCHEMA",
    "MetricData",
    "Stats",
    "compare",
    "compare_metrics",
    "lift_over_time",
]

Stats = MeanStats | RatioStats

#: Columns (and dtypes) of :attr:`ReadoutResult.results`, one row per metric × treatment.
#: ``method`` names the test (``cuped_welch_t`` for CUPED), ``variance_reduction`` is the
#: share of variance CUPED removed (NaN otherwise), ``capping`` the metric's cap
#: (``p99`` for a percentile, else the absolute value; null when uncapped).
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


def compare(
    definition: MetricDefinition,
    control: Stats,
    treatment: Stats,
    *,
    engine: Engine,
    config: AnalysisConfig,
    previous: ComparisonResult | BayesResult | None = None,
    draws: int = 200_000,
) -> ComparisonResult | BayesResult:
    """Compare one treatment with control for one metric, choosing the method.

    Args:
        definition: The metric (its kind picks the test).
        control: Control statistics.
        treatment: Treatment statistics.
        engine: ``frequentist``, ``sequential`` or ``bayesian``.
        config: Alpha, sidedness, correction.
        previous: The previous look's result (sequential engine only).
        draws: Monte Carlo draws for Beta-Binomial credible intervals.

    Returns:
        The stats engine's result.

    Raises:
        InvalidInput: The two statistics are of different families.

    Examples:
        >>> from abwb.config.metric import MetricDefinition
        >>> m = MetricDefinition(key="purchase", kind="binomial", event="purchase")
        >>> r = compare(m, MeanStats.from_counts(100, 1000), MeanStats.from_counts(130, 1000),
        ...             engine="frequentist", config=AnalysisConfig())
        >>> r.method, round(r.p_value, 4)
        ('two_proportion_z', 0.0355)
    """
    if isinstance(control, RatioStats) and isinstance(treatment, RatioStats):
        return ratio_ztest(control, treatment, config=config)
    if not (isinstance(control, MeanStats) and isinstance(treatment, MeanStats)):
        raise InvalidInput(
            "control and treatment must both be MeanStats or both RatioStats, got "
            f"{type(control).__name__} and {type(treatment).__name__}",
            path=f"metrics[{definition.key!r}]",
        )
    binary = definition.kind == "binomial"
    if engine == "bayesian":
        if binary:
            return beta_binomial(control, treatment, config=config, draws=draws)
        return normal_means(control, treatment, config=config)
    if engine == "sequential":
        prev = previous if isinstance(previous, ComparisonResult) else None
        planned = max(control.n + treatment.n, 1)
        return confidence_sequence(control, treatment, planned_n=planned, config=config,
                                   previous=prev)
    if control.has_covariate and treatment.has_covariate:
        return cuped_ttest(control, treatment, config=config)
    if binary:
        return proportions_ztest(control, treatment, config=config)
    return welch_ttest(control, treatment, config=config)


def _chance_to_win(result: ComparisonResult | BayesResult, direction: str) -> float:
    if not isinstance(result, BayesResult):
        return math.nan
    ctb = result.chance_to_beat_control
    return ctb if direction == "increase" else 1.0 - ctb


def _outcome(row: dict[str, Any], engine: Engine, alpha: float) -> str:
    if row["status"] not in ("ok", "zero_control_mean"):
        return "no data" if row["status"] in ("empty_arm", "insufficient_n") else "not testable"
    good_sign = 1.0 if row["direction"] == "increase" else -1.0
    if engine == "bayesian" and not math.isnan(row["chance_to_win"]):
        if row["chance_to_win"] >= 1.0 - alpha:
            return "better"
        if row["chance_to_win"] <= alpha:
            return "worse"
        return "inconclusive"
    p = row["p_value_adjusted"]
    if math.isnan(p) or p >= alpha:
        return "inconclusive"
    return "better" if row["effect_abs"] * good_sign > 0 else "worse"


def _row(
    data: MetricData, control: str, variant: str, result: ComparisonResult | BayesResult
) -> dict[str, Any]:
    d = data.definition
    is_bayes = isinstance(result, BayesResult)
    return {
        "metric": d.key,
        "metric_name": d.name or d.key,
        "role": data.role,
        "kind": d.kind,
        "direction": d.direction,
        "variant": variant,
        "control": control,
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
        "p_value": math.nan if is_bayes else result.p_value,  # type: ignore[union-attr]
        "p_value_adjusted": math.nan,
        "chance_to_win": _chance_to_win(result, d.direction),
        "risk_treatment": result.risk_treatment if is_bayes else math.nan,  # type: ignore[union-attr]
        "variance_reduction": math.nan if is_bayes else result.variance_reduction,  # type: ignore[union-attr]
        "capping": _capping(d),
        "outcome": "",
        "guardrail_max_harm_rel": (
            d.guardrail_max_harm_rel if d.guardrail_max_harm_rel is not None else math.nan
        ),
    }


def _capping(definition: MetricDefinition) -> str | None:
    cap = definition.capping
    if cap is None:
        return None
    if cap.percentile is not None:
        return f"p{cap.percentile * 100:g}"
    return None if cap.absolute is None else f"{cap.absolute:g}"


def _analysis_kind(data: MetricData, control: Stats) -> AnalysisKind:
    if isinstance(control, RatioStats):
        return "ratio"
    if control.has_covariate:
        return "cuped"
    return "proportion" if data.definition.kind == "binomial" else "mean"


def _frequentist(
    metrics: Sequence[MetricData], control: str, variants: Sequence[str], config: AnalysisConfig
) -> list[tuple[MetricData, str, ComparisonResult | BayesResult]]:
    usable = [m for m in metrics if control in m.stats and any(v in m.stats for v in variants)]
    if not usable:
        return []
    table = analyze(
        {m.definition.key: {v: m.stats[v] for v in (control, *variants) if v in m.stats}
         for m in usable},
        control=control,
        kinds={m.definition.key: _analysis_kind(m, m.stats[control]) for m in usable},
        config=config,
    )
    by_key = {m.definition.key: m for m in usable}
    return [(by_key[r.metric], r.treatment, r) for r in table]


def compare_metrics(
    metrics: Sequence[MetricData],
    *,
    control: str,
    variants: Sequence[str],
    engine: Engine,
    config: AnalysisConfig,
) -> pl.DataFrame:
    """Compare every treatment variant with control on every metric.

    The frequentist engine goes through :func:`abwb.stats.analysis.analyze`; the
    others call their method per comparison. In every engine the p-values of the
    whole family (metrics × treatments) are adjusted by ``config.correction``, as
    ``analyze`` does, so ``p_value_adjusted`` means the same thing everywhere.

    Args:
        metrics: Metrics with their per-variant statistics.
        control: Control variant key.
        variants: Treatment variant keys, in display order.
        engine: Statistics engine.
        config: Alpha, sidedness and correction.

    Returns:
        One row per metric × treatment, columns :data:`RESULT_SCHEMA`.
    """
    if engine == "frequentist":
        compared = _frequentist(metrics, control, variants, config)
    else:
        compared = [
            (data, variant, compare(data.definition, data.stats[control], data.stats[variant],
                                    engine=engine, config=config))
            for data in metrics if control in data.stats
            for variant in variants if variant in data.stats
        ]
    rows = [_row(data, control, variant, result) for data, variant, result in compared]
    idx = [i for i, r in enumerate(rows) if not math.isnan(r["p_value"])]
    if engine == "frequentist":
        for r, (_, _, result) in zip(rows, compared, strict=True):
            r["p_value_adjusted"] = result.p_value_adjusted  # type: ignore[union-attr]
    elif idx:
        adjusted = adjust_p_values([rows[i]["p_value"] for i in idx], config.correction)
        for i, p in zip(idx, adjusted, strict=True):
            rows[i]["p_value_adjusted"] = p
    for r in rows:
        r["outcome"] = _outcome(r, engine, config.alpha)
    if not rows:
        return pl.DataFrame(schema=RESULT_SCHEMA)
    return pl.DataFrame(rows, schema=RESULT_SCHEMA, orient="row")


def lift_over_time(
    metrics: Sequence[MetricData],
    *,
    control: str,
    variants: Sequence[str],
    engine: Engine,
    config: AnalysisConfig,
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

    Returns:
        Columns :data:`OVER_TIME_SCHEMA`, ordered by metric, variant, date.
    """
    rows: list[dict[str, Any]] = []
    for data in metrics:
        for variant in variants:
            previous: ComparisonResult | BayesResult | None = None
            for day, stats in data.daily:
                base, other = stats.get(control), stats.get(variant)
                if base is None or other is None:
                    continue
                result = compare(data.definition, base, other, engine=engine, config=config,
                                 previous=previous, draws=_OVER_TIME_DRAWS)
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
