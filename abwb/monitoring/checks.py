"""Monitoring checks: pure functions from pooled statistics to ``Finding``s.

What belongs here: one function per monitored condition — sequential SRM,
exposure health (no traffic, sudden drop), crossover rate, guardrail harm and
primary-metric significance. They take statistics and a :class:`MonitorConfig`
and return findings; they read no clock, store or network. The statistics
themselves come from :mod:`abwb.stats`: each metric's method from the registry
(:func:`abwb.stats.methods.compare`, by the metric's kind and ``MonitorConfig.engine``,
the same choice the readout makes), whether a guardrail is harmed from
:func:`abwb.stats.ship_rule.guardrail_status` (the rule the readout's decision uses),
and the SRM test. Nothing here re-implements them.

Guardrails are tested one-sided in the harmful direction, by default with
always-valid confidence sequences (the ``sequential`` engine). The experiment's
guardrail budget ``alpha_guardrail`` is split Bonferroni over guardrails ×
treatments, so the chance that an A/A experiment ever raises a guardrail alert,
however often it is looked at, stays below ``alpha_guardrail``. With
``guardrail_max_harm_rel = m`` the null is "relative harm ≤ m": the alert fires
only once the whole interval lies beyond the tolerated harm. Under the sequential
engine an alert, once established, stays (running minimum of the always-valid
p-value over looks); under the other engines each look stands alone, because only
an always-valid p-value may be minimised.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from scipy import stats as scipy_stats

from abwb.config.metric import MetricDefinition
from abwb.monitoring.alerts import Evidence, Finding
from abwb.monitoring.config import MonitorConfig
from abwb.stats.config import Alternative, AnalysisConfig
from abwb.stats.methods import Comparison, MethodOptions, compare
from abwb.stats.results import ComparisonResult
from abwb.stats.sequential import always_valid_p_value
from abwb.stats.ship_rule import Guardrail, guardrail_status, outcome
from abwb.stats.srm import SrmResult, sequential_srm_test
from abwb.stats.summary import MeanStats, RatioStats

__all__ = [
    "SubjectRef",
    "check_crossover",
    "check_exposure_health",
    "check_guardrails",
    "check_significance",
    "check_srm",
    "compare_arms",
]

MetricStats = MeanStats | RatioStats
_USABLE = ("ok", "zero_control_mean")


@dataclass(frozen=True, slots=True)
class SubjectRef:
    """What a finding is about: an experiment or a rollout, by key.

    Args:
        kind: ``experiment`` or ``rollout``.
        key: Its key.
    """

    kind: Literal["experiment", "rollout"]
    key: str

    @property
    def experiment(self) -> str | None:
        """The key when the subject is an experiment."""
        return self.key if self.kind == "experiment" else None

    @property
    def rollout(self) -> str | None:
        """The key when the subject is a rollout."""
        return self.key if self.kind == "rollout" else None

    def finding(self, dedup_key: str, firing: bool, **kwargs: object) -> Finding:
        """A finding about this subject (``kwargs`` are the other ``Finding`` fields)."""
        return Finding(
            dedup_key=dedup_key,
            firing=firing,
            experiment=self.experiment,
            rollout=self.rollout,
            **kwargs,  # type: ignore[arg-type]
        )


def check_srm(
    subject: SubjectRef,
    counts: Mapping[str, int],
    weights: Mapping[str, float],
    *,
    config: MonitorConfig,
    previous: SrmResult | None = None,
) -> tuple[Finding | None, SrmResult | None]:
    """Sequential (always-valid) sample-ratio-mismatch check.

    Args:
        subject: The experiment.
        counts: Cumulative units per variant (first exposure).
        weights: Configured weight per variant; zero-weight variants are ignored.
        config: Thresholds.
        previous: The previous pass's result (carries the running-minimum p-value).

    Returns:
        The finding (``None`` below ``srm_min_units``) and the result to pass next time.

    Examples:
        >>> s = SubjectRef("experiment", "e")
        >>> f, _ = check_srm(s, {"a": 5500, "b": 4500}, {"a": 0.5, "b": 0.5},
        ...                  config=MonitorConfig())
        >>> f.firing, f.severity
        (True, 'critical')
    """
    live = {k: w for k, w in weights.items() if w > 0}
    observed = {k: int(counts.get(k, 0)) for k in live}
    if len(live) < 2 or sum(observed.values()) < config.srm_min_units:
        return None, previous
    result = sequential_srm_test(
        observed,
        live,
        threshold=config.srm_threshold,
        concentration=config.srm_concentration,
        previous=previous,
    )
    shares = ", ".join(
        f"{k} {n / max(sum(result.n), 1):.1%} (expected {w / sum(live.values()):.1%})"
        for k, n, w in zip(result.variants, result.n, live.values(), strict=True)
    )
    evidence = Evidence(
        statistic=result.statistic,
        threshold=result.threshold,
        p_value=result.p_value,
        n=dict(zip(result.variants, result.n, strict=True)),
        method=result.method,
        details={f"expected_{k}": e for k, e in zip(result.variants, result.expected, strict=True)},
    )
    finding = subject.finding(
        f"srm:{subject.key}",
        result.alert,
        kind="srm",
        severity="critical",
        message=f"sample ratio mismatch in {subject.key}: {shares}; "
        f"always-valid p = {result.p_value:.2g} < {result.threshold}",
        evidence=evidence,
    )
    return finding, result


def check_exposure_health(
    subject: SubjectRef,
    *,
    now: datetime,
    watching_since: datetime,
    last_exposure_at: datetime | None,
    current_count: int,
    current_duration_s: float,
    trailing: Sequence[tuple[int, float]],
    config: MonitorConfig,
) -> list[Finding]:
    """No-traffic and sudden-drop checks on the exposure stream of a running subject.

    The drop test asks whether this pass's count is implausibly low for a Poisson
    stream at the trailing rate (lower tail < ``drop_p``) *and* below
    ``drop_ratio`` × expected, so a large, noisy stream does not alert on a 5 % dip.

    Args:
        subject: The experiment or rollout.
        now: Time of the pass.
        watching_since: When monitoring of this subject began.
        last_exposure_at: Latest exposure seen so far (``None``: never).
        current_count: Exposures in this pass's window.
        current_duration_s: Length of this pass's window.
        trailing: ``(count, duration_s)`` of previous passes, oldest first.
        config: Thresholds.

    Returns:
        Findings for ``exposure_health:no_traffic`` and (when there is a trailing
        rate) ``exposure_health:drop``.

    Examples:
        >>> from datetime import UTC, datetime, timedelta
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> fs = check_exposure_health(SubjectRef("experiment", "e"), now=t,
        ...     watching_since=t - timedelta(hours=1), last_exposure_at=t,
        ...     current_count=3, current_duration_s=60, trailing=[(100, 60)] * 5,
        ...     config=MonitorConfig())
        >>> [(f.dedup_key, f.firing) for f in fs]
        [('exposure_health:no_traffic:e', False), ('exposure_health:drop:e', True)]
    """
    findings: list[Finding] = []
    reference = last_exposure_at or watching_since
    silent_s = (now - reference).total_seconds()
    findings.append(
        subject.finding(
            f"exposure_health:no_traffic:{subject.key}",
            silent_s >= config.no_traffic_s,
            kind="exposure_health",
            severity="warning",
            message=f"no exposures for {subject.key} in {silent_s / 60:.0f} min "
            f"(limit {config.no_traffic_s / 60:.0f} min)",
            evidence=Evidence(
                statistic=silent_s,
                threshold=config.no_traffic_s,
                details={"silent_s": silent_s},
            ),
        )
    )
    window = trailing[-config.trailing_passes :]
    trailing_s = sum(d for _, d in window)
    if trailing_s <= 0 or current_duration_s <= 0:
        return findings
    rate = sum(c for c, _ in window) / trailing_s
    expected = rate * current_duration_s
    if expected < config.drop_min_expected:
        return findings
    p = float(scipy_stats.poisson.cdf(current_count, expected))
    firing = p < config.drop_p and current_count < config.drop_ratio * expected
    findings.append(
        subject.finding(
            f"exposure_health:drop:{subject.key}",
            firing,
            kind="exposure_health",
            severity="warning",
            message=f"exposures of {subject.key} dropped to {current_count} in "
            f"{current_duration_s:.0f} s, expected {expected:.0f} from the trailing rate",
            evidence=Evidence(
                statistic=float(current_count),
                threshold=config.drop_ratio * expected,
                p_value=p,
                method="poisson_lower_tail",
                details={"expected": expected, "trailing_rate_per_s": rate},
            ),
        )
    )
    return findings


def check_crossover(
    subject: SubjectRef, *, crossed: int, units: int, config: MonitorConfig
) -> Finding | None:
    """Share of units exposed to more than one variant (broken assignment or logging).

    Args:
        subject: The experiment.
        crossed: Units seen in two or more variants of the current phase.
        units: All units seen.
        config: Thresholds.

    Returns:
        The finding, or ``None`` below ``crossover_min_units``.

    Examples:
        >>> check_crossover(SubjectRef("experiment", "e"), crossed=30, units=1000,
        ...                 config=MonitorConfig()).firing
        True
    """
    if units < config.crossover_min_units:
        return None
    share = crossed / units
    return subject.finding(
        f"crossover:{subject.key}",
        share > config.crossover_max_rate,
        kind="crossover",
        severity="warning",
        message=f"{share:.2%} of units in {subject.key} saw more than one variant "
        f"(limit {config.crossover_max_rate:.2%})",
        evidence=Evidence(
            statistic=share,
            threshold=config.crossover_max_rate,
            n={"crossed": crossed, "units": units},
        ),
    )


def compare_arms(
    metric: MetricDefinition,
    control: MetricStats,
    treatment: MetricStats,
    *,
    config: MonitorConfig,
    alpha: float,
    alternative: Alternative = "two-sided",
) -> Comparison:
    """Compare treatment with control for one metric, as the monitor's checks do.

    The method comes from the registry (:func:`abwb.stats.methods.compare`) by the
    metric's kind and ``config.engine``; confidence sequences are tuned to
    ``config.planned_n``.

    Args:
        metric: The metric definition (its kind picks the method).
        control: Cumulative control statistics.
        treatment: Cumulative treatment statistics (same type as ``control``).
        config: ``engine`` and ``planned_n``.
        alpha: Level of the interval.
        alternative: ``two-sided``, ``greater`` or ``less``.

    Returns:
        The comparison.

    Raises:
        InvalidInput: The statistics do not fit the metric's kind.

    Examples:
        >>> m = MetricDefinition(key="conv", kind="binomial", event="buy")
        >>> r = compare_arms(m, MeanStats.from_counts(500, 5000), MeanStats.from_counts(400, 5000),
        ...                  config=MonitorConfig(planned_n=10_000), alpha=0.05,
        ...                  alternative="less")
        >>> r.method, r.p_value < 0.05, r.ci_high_rel < 0
        ('asymptotic_cs', True, True)
    """
    options = MethodOptions(config=AnalysisConfig(alpha=alpha, alternative=alternative),
                            planned_n=config.planned_n)
    return compare(control, treatment, kind=metric.kind, engine=config.engine, options=options,
                   path=f"stats[{metric.key!r}]")


def _harm_p_value(
    result: Comparison,
    *,
    max_harm_rel: float,
    harmful: Alternative,
    planned_n: int,
    alpha: float,
) -> float:
    """Always-valid p-value of H0 "relative harm ≤ max_harm_rel" (one-sided, sequential)."""
    if not isinstance(result, ComparisonResult):
        return math.nan
    if max_harm_rel <= 0:
        return result.p_value
    if result.status != "ok" or not result.se_rel > 0:
        return math.nan
    # Shift the null to the tolerated harm: for "less" (lower is harmful) the null
    # is effect_rel >= -m, so z = (effect_rel + m) / se_rel must be very negative.
    shift = max_harm_rel if harmful == "less" else -max_harm_rel
    z = (result.effect_rel + shift) / result.se_rel
    if (harmful == "less" and z >= 0) or (harmful == "greater" and z <= 0):
        return 1.0
    n = result.n_control + result.n_treatment
    return float(always_valid_p_value(z, n, planned_n, alpha))


def _n(result: Comparison, control: str, treatment: str) -> dict[str, int]:
    return {control: result.n_control, treatment: result.n_treatment}


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _comparison_evidence(
    result: Comparison,
    control: str,
    treatment: str,
    p_value: float | None,
    threshold: float,
    *,
    details: dict[str, float] | None = None,
) -> Evidence:
    """The evidence an alert carries for a control-vs-treatment comparison."""
    return Evidence(
        statistic=result.statistic if isinstance(result, ComparisonResult) else math.nan,
        threshold=threshold,
        p_value=p_value,
        n=_n(result, control, treatment),
        effect_rel=_num(result.effect_rel),
        ci_low_rel=_num(result.ci_low_rel),
        ci_high_rel=_num(result.ci_high_rel),
        method=result.method,
        details=details if details is not None else {},
    )


def _arm_pairs(
    metrics: Sequence[MetricDefinition],
    stats: Mapping[str, Mapping[str, MetricStats]],
    control: str,
    treatments: Sequence[str],
    config: MonitorConfig,
) -> Iterator[tuple[MetricDefinition, str, MetricStats, MetricStats]]:
    """Every metric × treatment whose control and treatment have enough units to test."""
    for metric in metrics:
        per_variant = stats.get(metric.key, {})
        for treatment in treatments:
            c, t = per_variant.get(control), per_variant.get(treatment)
            if c is not None and t is not None and min(c.n, t.n) >= config.min_units_per_arm:
                yield metric, treatment, c, t


def check_guardrails(
    subject: SubjectRef,
    metrics: Sequence[MetricDefinition],
    stats: Mapping[str, Mapping[str, MetricStats]],
    *,
    control: str,
    treatments: Sequence[str],
    config: MonitorConfig,
    previous_p: Mapping[str, float] | None = None,
) -> list[Finding]:
    """One-sided always-valid harm tests on every guardrail × treatment.

    The p-value reported is the running minimum over looks (``previous_p``), which is
    still always valid: once harm is established the alert stays, it does not flap.

    Args:
        subject: The experiment or rollout.
        metrics: Guardrail metric definitions (``direction`` says which way is good).
        stats: Metric key → variant → cumulative statistics.
        control: Control variant key.
        treatments: Treatment variant keys.
        config: ``alpha_guardrail`` (split Bonferroni), ``planned_n``, ``min_units_per_arm``.
        previous_p: Dedup key → smallest p-value of earlier looks.

    Returns:
        One finding per guardrail × treatment with enough units (critical when firing).

    Examples:
        >>> from abwb.config.metric import MetricDefinition
        >>> m = MetricDefinition(key="conv", kind="binomial", event="buy")
        >>> s = {"conv": {"c": MeanStats.from_counts(1000, 10_000),
        ...               "t": MeanStats.from_counts(850, 10_000)}}
        >>> [f.firing for f in check_guardrails(SubjectRef("experiment", "e"), [m], s,
        ...      control="c", treatments=["t"], config=MonitorConfig())]
        [True]
    """
    tests = max(len(metrics) * len(treatments), 1)
    alpha_each = config.alpha_guardrail / tests
    always_valid = config.engine == "sequential"
    findings: list[Finding] = []
    for metric, treatment, c, t in _arm_pairs(metrics, stats, control, treatments, config):
        harmful: Alternative = "less" if metric.direction == "increase" else "greater"
        guardrail = Guardrail.of(metric)
        result = compare_arms(metric, c, t, config=config, alpha=alpha_each,
                              alternative=harmful)
        status = guardrail_status(result, guardrail)
        if status == "not_established":
            continue  # no usable estimate or an undefined interval: harm is not shown
        key = f"guardrail:{subject.key}:{metric.key}:{treatment}"
        p = _harm_p_value(result, max_harm_rel=guardrail.max_harm_rel, harmful=harmful,
                          planned_n=config.planned_n, alpha=alpha_each)
        earlier = (previous_p or {}).get(key, 1.0) if always_valid else 1.0
        p = min(p, earlier) if always_valid and not math.isnan(p) else p
        firing = status == "harmed" or earlier < alpha_each
        evidence_p = None if math.isnan(p) or (not always_valid and guardrail.max_harm_rel) else p
        word = "dropped" if harmful == "less" else "rose"
        findings.append(
            subject.finding(
                key,
                firing,
                kind="guardrail",
                severity="critical",
                metric=metric.key,
                variant=treatment,
                message=f"guardrail {metric.key} {word} for variant {treatment!r} of "
                f"{subject.key}: "
                f"{result.effect_rel:+.2%} vs {control} (tolerated "
                f"{guardrail.max_harm_rel:.1%}); {_evidence_words(evidence_p, alpha_each)}",
                evidence=_comparison_evidence(
                    result,
                    control,
                    treatment,
                    evidence_p,
                    alpha_each,
                    details={
                        "mean_control": result.mean_control,
                        "mean_treatment": result.mean_treatment,
                        "max_harm_rel": guardrail.max_harm_rel,
                    },
                ),
            )
        )
    return findings


def _evidence_words(p: float | None, alpha: float) -> str:
    if p is None:
        return f"interval at level {1 - alpha:.4g}"
    return f"p = {p:.2g} vs {alpha:.2g}"


def check_significance(
    subject: SubjectRef,
    metrics: Sequence[MetricDefinition],
    stats: Mapping[str, Mapping[str, MetricStats]],
    *,
    control: str,
    treatments: Sequence[str],
    config: MonitorConfig,
    previous_p: Mapping[str, float] | None = None,
) -> list[Finding]:
    """Primary metrics that reached always-valid significance (two-sided, info).

    As for guardrails, the p-value is the running minimum over looks (``previous_p``).

    Args:
        subject: The experiment.
        metrics: Primary metric definitions.
        stats: Metric key → variant → cumulative statistics.
        control: Control variant key.
        treatments: Treatment variant keys.
        config: ``alpha_significance`` (split Bonferroni), ``planned_n``.
        previous_p: Dedup key → smallest p-value of earlier looks.

    Returns:
        One finding per primary metric × treatment with enough units.

    Examples:
        >>> from abwb.config.metric import MetricDefinition
        >>> m = MetricDefinition(key="conv", kind="binomial", event="buy")
        >>> s = {"conv": {"c": MeanStats.from_counts(1000, 10_000),
        ...               "t": MeanStats.from_counts(1010, 10_000)}}
        >>> [f.firing for f in check_significance(SubjectRef("experiment", "e"), [m], s,
        ...      control="c", treatments=["t"], config=MonitorConfig())]
        [False]
    """
    tests = max(len(metrics) * len(treatments), 1)
    alpha_each = config.alpha_significance / tests
    always_valid = config.engine == "sequential"
    findings: list[Finding] = []
    for metric, treatment, c, t in _arm_pairs(metrics, stats, control, treatments, config):
        result = compare_arms(metric, c, t, config=config, alpha=alpha_each)
        if result.status not in _USABLE:
            continue
        key = f"significance:{subject.key}:{metric.key}:{treatment}"
        earlier = (previous_p or {}).get(key, 1.0) if always_valid else 1.0
        p = min(result.p_value, earlier) if isinstance(result, ComparisonResult) else None
        firing = outcome(result, metric.direction) in ("better", "worse") or earlier < alpha_each
        findings.append(
            subject.finding(
                key,
                firing,
                kind="significance",
                severity="info",
                metric=metric.key,
                variant=treatment,
                message=f"primary metric {metric.key} reached significance for variant "
                f"{treatment!r} of {subject.key}: {result.effect_rel:+.2%} vs {control}, "
                f"{_evidence_words(p, alpha_each)}",
                evidence=_comparison_evidence(result, control, treatment, p, alpha_each),
            )
        )
    return findings
