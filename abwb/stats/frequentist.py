"""Fixed-horizon frequentist comparisons of a treatment with control.

What belongs here: tests that take two per-variant statistic objects
(``MeanStats`` / ``RatioStats``) and an ``AnalysisConfig`` and return a
``ComparisonResult`` — Welch t-test, two-proportion z-test, delta-method ratio
test and CUPED-adjusted t-test — plus the shared absolute/relative lift
arithmetic. Multiple-testing corrections are in ``corrections``, power in
``power``, sequential methods in ``sequential``.

Conventions: the effect is ``treatment - control``; ``greater`` means the
treatment is higher. The relative lift ``treatment / control - 1`` gets a CI by
the delta method (``rel_ci_method="delta"``), which treats the two arm means as
independent and normal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from scipy import special, stats

from abwb.errors import InvalidInput
from abwb.stats.config import Alternative, AnalysisConfig
from abwb.stats.results import ComparisonResult, Status, nan_comparison
from abwb.stats.summary import MeanStats, RatioStats, require_binary

__all__ = [
    "SMALL_SAMPLE_MIN_EXPECTED",
    "SMALL_SAMPLE_MIN_N",
    "cuped_theta",
    "cuped_ttest",
    "is_small_sample",
    "p_value_and_ci",
    "proportions_ztest",
    "ratio_ztest",
    "relative_lift_se",
    "welch_ttest",
]

_DEFAULT = AnalysisConfig()


@dataclass(frozen=True, slots=True)
class _Arms:
    """Per-arm means, per-unit variances and sampling variances (se²) of the means."""

    n_control: int
    n_treatment: int
    mean_control: float
    mean_treatment: float
    var_control: float
    var_treatment: float
    se2_control: float
    se2_treatment: float


def _sf(stat: float, df: float) -> float:
    """Upper-tail probability of t(df), or of N(0, 1) when df is infinite."""
    return float(special.stdtr(df, -stat)) if math.isfinite(df) else float(special.ndtr(-stat))


def _quantile(prob: float, df: float) -> float:
    """Quantile of t(df), or of N(0, 1) when df is infinite."""
    return float(special.stdtrit(df, prob)) if math.isfinite(df) else float(special.ndtri(prob))


def p_value_and_ci(
    estimate: float, se: float, df: float, alpha: float, alternative: Alternative
) -> tuple[float, float, float]:
    """p-value of ``estimate / se`` and the matching (1 - alpha) CI of the estimate.

    Args:
        estimate: Point estimate.
        se: Its standard error (> 0).
        df: Degrees of freedom of the t reference; ``inf`` for the normal.
        alpha: Significance level.
        alternative: Sidedness; one-sided alternatives give a one-sided CI.

    Returns:
        ``(p_value, ci_low, ci_high)``.

    Examples:
        >>> p, lo, hi = p_value_and_ci(1.96, 1.0, math.inf, 0.05, "two-sided")
        >>> round(p, 4), round(lo, 4)
        (0.05, 0.0)
    """
    stat = estimate / se
    if alternative == "two-sided":
        q = _quantile(1.0 - alpha / 2.0, df)
        p = min(1.0, 2.0 * _sf(abs(stat), df))
        return p, estimate - q * se, estimate + q * se
    q = _quantile(1.0 - alpha, df)
    if alternative == "greater":
        return _sf(stat, df), estimate - q * se, math.inf
    return _sf(-stat, df), -math.inf, estimate + q * se


def relative_lift_se(mean_control: float, mean_treatment: float, se2_control: float,
                     se2_treatment: float) -> float:
    """Delta-method standard error of the relative lift m_t / m_c − 1 (independent arms).

    Var(R) ≈ Var(m_t) / m_c² + m_t² Var(m_c) / m_c⁴. When that variance is 0 (an
    all-zero treatment arm: m_t = 0 and Var(m_t) = 0 kill both terms) while the
    absolute one is not, the delta method has broken down, not found certainty: the SE
    is NaN (``rel_reason="degenerate"``), never 0 — which would give the point interval
    [−100 %, −100 %]. The one place every relative interval gets its SE.

    Args:
        mean_control: m_c (≠ 0).
        mean_treatment: m_t.
        se2_control: Var(m_c).
        se2_treatment: Var(m_t).

    Returns:
        The SE, or NaN when the delta-method variance vanishes.

    Examples:
        >>> round(relative_lift_se(0.1, 0.12, 0.0001, 0.0001), 4)
        0.1562
        >>> relative_lift_se(4 / 30, 0.0, 0.004, 0.0)
        nan
    """
    mc, mt = mean_control, mean_treatment
    se_rel = math.sqrt(se2_treatment / mc**2 + mt**2 * se2_control / mc**4)
    return se_rel if se_rel > 0.0 else math.nan


def _relative(arms: _Arms, df: float, alpha: float, alternative: Alternative) -> tuple[
    float, float, float, float
]:
    """Relative lift and its delta-method SE and CI (NaN SE and CI when degenerate)."""
    rel = arms.mean_treatment / arms.mean_control - 1.0
    se_rel = relative_lift_se(arms.mean_control, arms.mean_treatment, arms.se2_control,
                              arms.se2_treatment)
    if math.isnan(se_rel):
        return rel, math.nan, math.nan, math.nan
    _, lo, hi = p_value_and_ci(rel, se_rel, df, alpha, alternative)
    return rel, se_rel, lo, hi


def _welch_df(arms: _Arms) -> float:
    """Welch–Satterthwaite degrees of freedom for the difference of two means."""
    v1, v2 = arms.se2_control, arms.se2_treatment
    denom = v1 * v1 / (arms.n_control - 1) + v2 * v2 / (arms.n_treatment - 1)
    return (v1 + v2) ** 2 / denom if denom > 0 else math.inf


def _degenerate_n(n_control: int, n_treatment: int) -> Status | None:
    if n_control == 0 or n_treatment == 0:
        return "empty_arm"
    if n_control < 2 or n_treatment < 2:
        return "insufficient_n"
    return None


def _compare(
    arms: _Arms,
    *,
    method: str,
    df: float,
    config: AnalysisConfig,
    test_se: float | None = None,
    variance_reduction: float = math.nan,
) -> ComparisonResult:
    """Turn per-arm summaries into a ``ComparisonResult`` (absolute + relative effect).

    ``test_se`` overrides the SE used for the test statistic (pooled SE of the
    proportion test); the CI always uses the unpooled SE from ``arms``.
    """
    effect = arms.mean_treatment - arms.mean_control
    se = math.sqrt(arms.se2_control + arms.se2_treatment)
    stat_se = se if test_se is None else test_se
    if se == 0.0 or stat_se == 0.0:
        return _nan_from(arms, method, "zero_variance", config)
    p_value, _, _ = p_value_and_ci(effect, stat_se, df, config.alpha, config.alternative)
    _, ci_low, ci_high = p_value_and_ci(effect, se, df, config.alpha, config.alternative)
    status: Status = "ok"
    rel_reason = ""
    if arms.mean_control == 0.0:
        status = rel_reason = "zero_control_mean"
        rel = se_rel = lo_rel = hi_rel = math.nan
    else:
        rel, se_rel, lo_rel, hi_rel = _relative(arms, df, config.alpha, config.alternative)
        rel_reason = "degenerate" if math.isnan(se_rel) else ""
    return ComparisonResult(
        method=method,
        status=status,
        metric="",
        control="control",
        treatment="treatment",
        n_control=arms.n_control,
        n_treatment=arms.n_treatment,
        mean_control=arms.mean_control,
        mean_treatment=arms.mean_treatment,
        var_control=arms.var_control,
        var_treatment=arms.var_treatment,
        effect_abs=effect,
        se=se,
        ci_low=ci_low,
        ci_high=ci_high,
        statistic=effect / stat_se,
        df=df,
        p_value=p_value,
        effect_rel=rel,
        se_rel=se_rel,
        ci_low_rel=lo_rel,
        ci_high_rel=hi_rel,
        rel_ci_method="delta",
        alpha=config.alpha,
        alternative=config.alternative,
        variance_reduction=variance_reduction,
        rel_reason=rel_reason,
    )


def _nan_from(arms: _Arms, method: str, status: Status, config: AnalysisConfig) -> ComparisonResult:
    return nan_comparison(
        method=method,
        status=status,
        n_control=arms.n_control,
        n_treatment=arms.n_treatment,
        mean_control=arms.mean_control,
        mean_treatment=arms.mean_treatment,
        var_control=arms.var_control,
        var_treatment=arms.var_treatment,
        alpha=config.alpha,
        alternative=config.alternative,
    )


def _require(obj: object, cls: type, name: str) -> None:
    if not isinstance(obj, cls):
        raise InvalidInput(
            f"expected {cls.__name__}, got {type(obj).__name__}", path=name
        )


def _mean_arms(control: MeanStats, treatment: MeanStats) -> _Arms:
    return _Arms(
        n_control=control.n,
        n_treatment=treatment.n,
        mean_control=control.mean,
        mean_treatment=treatment.mean,
        var_control=control.var,
        var_treatment=treatment.var,
        se2_control=control.var / control.n if control.n else math.nan,
        se2_treatment=treatment.var / treatment.n if treatment.n else math.nan,
    )


def welch_ttest(
    control: MeanStats, treatment: MeanStats, *, config: AnalysisConfig = _DEFAULT
) -> ComparisonResult:
    """Welch's unequal-variance t-test for the difference in means.

    The statistic is (ȳ_t − ȳ_c) / sqrt(s²_c/n_c + s²_t/n_t) with
    Welch–Satterthwaite degrees of freedom
    ν = (v_c + v_t)² / (v_c²/(n_c−1) + v_t²/(n_t−1)), v = s²/n.

    Args:
        control: Control statistics.
        treatment: Treatment statistics.
        config: Alpha and alternative.

    Returns:
        The comparison; status ``empty_arm`` / ``insufficient_n`` / ``zero_variance``
        with NaN estimates for degenerate data.

    Raises:
        InvalidInput: An argument is not a ``MeanStats``.

    References:
        Welch, B. L. (1947). "The generalization of Student's problem when several
        different population variances are involved". Biometrika 34: 28–35.

    Examples:
        >>> c = MeanStats.from_values([1.0, 2.0, 3.0, 4.0])
        >>> t = MeanStats.from_values([2.0, 3.0, 4.0, 6.0])
        >>> r = welch_ttest(c, t)
        >>> round(r.effect_abs, 3), round(r.p_value, 4), round(r.df, 3)
        (1.25, 0.2903, 5.585)
    """
    _require(control, MeanStats, "control")
    _require(treatment, MeanStats, "treatment")
    arms = _mean_arms(control, treatment)
    if (status := _degenerate_n(control.n, treatment.n)) is not None:
        return _nan_from(arms, "welch_t", status, config)
    if arms.se2_control + arms.se2_treatment == 0.0:
        return _nan_from(arms, "welch_t", "zero_variance", config)
    return _compare(arms, method="welch_t", df=_welch_df(arms), config=config)


def proportions_ztest(
    control: MeanStats, treatment: MeanStats, *, config: AnalysisConfig = _DEFAULT
) -> ComparisonResult:
    """Two-proportion z-test for a 0/1 conversion metric.

    The test statistic uses the *pooled* SE, sqrt(p̄(1−p̄)(1/n_c + 1/n_t)) with
    p̄ the pooled conversion rate, because under H0 both arms share one rate
    (this matches ``statsmodels.stats.proportion.proportions_ztest``). The CI
    uses the *unpooled* (Wald) SE, sqrt(p_c(1−p_c)/n_c + p_t(1−p_t)/n_t), because
    away from H0 the rates differ. ``var_*`` are the Bernoulli variances p(1−p).

    Small samples (``is_small_sample``: an arm with n < 30 or an expected cell count
    < 5) get Fisher's exact p-value instead of the z one, and ``method="fisher_exact"``
    says so; the CI stays the Wald one (its relative bound is NaN with
    ``rel_reason="degenerate"`` when an arm has no conversions).

    Args:
        control: Control statistics of a 0/1 metric.
        treatment: Treatment statistics of a 0/1 metric.
        config: Alpha and alternative.

    Returns:
        The comparison (``df`` is infinite); degenerate data gives a status and NaN.

    Raises:
        InvalidInput: Not ``MeanStats``, or not 0/1 data (``total_sq != total``).

    References:
        Agresti, A. (2013). Categorical Data Analysis, 3rd ed., §3.1.

    Examples:
        >>> r = proportions_ztest(MeanStats.from_counts(100, 1000),
        ...                       MeanStats.from_counts(130, 1000))
        >>> round(r.statistic, 4), round(r.p_value, 4)
        (2.1027, 0.0355)
    """
    _require(control, MeanStats, "control")
    _require(treatment, MeanStats, "treatment")
    require_binary(control, "control")
    require_binary(treatment, "treatment")
    nc, nt = control.n, treatment.n
    pc = control.total / nc if nc else math.nan
    pt = treatment.total / nt if nt else math.nan
    arms = _Arms(
        n_control=nc,
        n_treatment=nt,
        mean_control=pc,
        mean_treatment=pt,
        var_control=pc * (1.0 - pc),
        var_treatment=pt * (1.0 - pt),
        se2_control=pc * (1.0 - pc) / nc if nc else math.nan,
        se2_treatment=pt * (1.0 - pt) / nt if nt else math.nan,
    )
    if nc == 0 or nt == 0:
        return _nan_from(arms, "two_proportion_z", "empty_arm", config)
    pooled = (control.total + treatment.total) / (nc + nt)
    pooled_se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / nc + 1.0 / nt))
    result = _compare(
        arms, method="two_proportion_z", df=math.inf, config=config, test_se=pooled_se
    )
    if result.status == "zero_variance" or not is_small_sample(control, treatment):
        return result
    return replace(result, method="fisher_exact",
                   p_value=_fisher_p_value(control, treatment, config.alternative))


SMALL_SAMPLE_MIN_N = 30
"""Below this many units in an arm, proportions get Fisher's exact p-value."""
SMALL_SAMPLE_MIN_EXPECTED = 5.0
"""Below this expected count in any cell of the 2×2 table, likewise."""


def is_small_sample(control: MeanStats, treatment: MeanStats) -> bool:
    """Whether the z-test's normal approximation is untrustworthy for two proportions.

    The rule (Cochran's): an arm with fewer than ``SMALL_SAMPLE_MIN_N`` (30) units, or a
    cell of the 2×2 table (arm × converted/not) whose expected count under H0 (pooled
    rate) is below ``SMALL_SAMPLE_MIN_EXPECTED`` (5).

    Args:
        control: Control statistics of a 0/1 metric (n > 0).
        treatment: Treatment statistics of a 0/1 metric (n > 0).

    Returns:
        True when ``proportions_ztest`` replaces the z p-value by Fisher's exact one.

    References:
        Cochran, W. G. (1954), "Some methods for strengthening the common χ² tests",
        Biometrics 10: 417-451.

    Examples:
        >>> is_small_sample(MeanStats.from_counts(4, 30), MeanStats.from_counts(0, 30))
        True
        >>> is_small_sample(MeanStats.from_counts(100, 1000), MeanStats.from_counts(130, 1000))
        False
    """
    nc, nt = control.n, treatment.n
    pooled = (control.total + treatment.total) / (nc + nt)
    expected = min(nc, nt) * min(pooled, 1.0 - pooled)
    return min(nc, nt) < SMALL_SAMPLE_MIN_N or expected < SMALL_SAMPLE_MIN_EXPECTED


def _fisher_p_value(control: MeanStats, treatment: MeanStats, alternative: Alternative) -> float:
    """Fisher's exact test on the 2×2 table; ``greater`` = treatment converts more."""
    kt, kc = round(treatment.total), round(control.total)
    table = [[kt, treatment.n - kt], [kc, control.n - kc]]
    return float(stats.fisher_exact(table, alternative=alternative).pvalue)


def ratio_ztest(
    control: RatioStats, treatment: RatioStats, *, config: AnalysisConfig = _DEFAULT
) -> ComparisonResult:
    """z-test for a ratio-of-sums metric (Σnum / Σden) with delta-method variances.

    Each arm's ratio R = Σnum/Σden has Var(R) ≈ (σ²_n − 2Rσ_nd + R²σ²_d) / (n μ_d²)
    (see ``RatioStats.ratio_var``); the arms are independent. ``var_*`` report
    the per-unit linearised variance n·Var(R).

    Args:
        control: Control ratio statistics.
        treatment: Treatment ratio statistics.
        config: Alpha and alternative.

    Returns:
        The comparison; status ``zero_denominator`` when Σden = 0 in an arm.

    Raises:
        InvalidInput: An argument is not a ``RatioStats``.

    References:
        Deng, Knoblich & Lu (2018), "Applying the Delta Method in Metric Analytics:
        A Practical Guide with Novel Ideas", KDD.

    Examples:
        >>> c = RatioStats.from_values([1.0, 2.0, 0.0, 3.0], [1.0, 2.0, 1.0, 2.0])
        >>> t = RatioStats.from_values([2.0, 2.0, 1.0, 4.0], [1.0, 2.0, 1.0, 2.0])
        >>> r = ratio_ztest(c, t)
        >>> r.mean_control, r.mean_treatment
        (1.0, 1.5)
    """
    _require(control, RatioStats, "control")
    _require(treatment, RatioStats, "treatment")
    arms = _Arms(
        n_control=control.n,
        n_treatment=treatment.n,
        mean_control=control.ratio,
        mean_treatment=treatment.ratio,
        var_control=control.ratio_var * control.n,
        var_treatment=treatment.ratio_var * treatment.n,
        se2_control=control.ratio_var,
        se2_treatment=treatment.ratio_var,
    )
    if (status := _degenerate_n(control.n, treatment.n)) is not None:
        return _nan_from(arms, "delta_ratio_z", status, config)
    if control.den_total == 0 or treatment.den_total == 0:
        return _nan_from(arms, "delta_ratio_z", "zero_denominator", config)
    return _compare(arms, method="delta_ratio_z", df=math.inf, config=config)


def cuped_theta(control: MeanStats, treatment: MeanStats) -> float:
    """CUPED coefficient θ = Cov(x, y) / Var(x) from the within-arm pooled covariance.

    Covariances are pooled across arms around each arm's own means, so the
    treatment effect on ``y`` does not leak into θ. NaN when Var(x) is 0.

    Args:
        control: Control statistics with covariate.
        treatment: Treatment statistics with covariate.

    Returns:
        θ.

    Examples:
        >>> c = MeanStats.from_values([1.0, 2.0, 3.0], x=[1.0, 2.0, 3.0])
        >>> t = MeanStats.from_values([2.0, 4.0, 6.0], x=[1.0, 2.0, 3.0])
        >>> cuped_theta(c, t)
        1.5
    """
    dof = control.n + treatment.n - 2
    if dof <= 0:
        return math.nan
    cov = (control.cov * (control.n - 1) + treatment.cov * (treatment.n - 1)) / dof
    var_x = (
        control.covariate_var * (control.n - 1) + treatment.covariate_var * (treatment.n - 1)
    ) / dof
    return cov / var_x if var_x > 0 else math.nan


def cuped_ttest(
    control: MeanStats, treatment: MeanStats, *, config: AnalysisConfig = _DEFAULT
) -> ComparisonResult:
    """Welch t-test on CUPED-adjusted means (pre-period covariate regression adjustment).

    Y_adj = Y − θ (X − x̄), with θ from ``cuped_theta`` and x̄ the covariate mean of
    both arms together (so adjusted means stay on the metric's scale and the
    relative lift stays meaningful). Per-arm adjusted variance is
    Var(Y) − 2θ Cov(X, Y) + θ² Var(X). ``variance_reduction`` is
    1 − Var(Δ_adj)/Var(Δ) for the effect estimate, ≈ ρ² for correlation ρ.

    Args:
        control: Control statistics with covariate.
        treatment: Treatment statistics with covariate.
        config: Alpha and alternative.

    Returns:
        The comparison (method ``cuped_welch_t``); degenerate data gives a status.
        When Var(x) = 0 the covariate is useless and θ = 0 (no adjustment).

    Raises:
        InvalidInput: Not ``MeanStats``, or either arm has no covariate.

    References:
        Deng, Xu, Kohavi & Walker (2013), "Improving the Sensitivity of Online
        Controlled Experiments by Utilizing Pre-Experiment Data", WSDM.

    Examples:
        >>> c = MeanStats.from_values([1.0, 2.5, 3.0, 4.5], x=[1.0, 2.0, 3.0, 4.0])
        >>> t = MeanStats.from_values([2.0, 3.5, 4.0, 5.5], x=[1.2, 2.0, 3.0, 4.0])
        >>> r = cuped_ttest(c, t)
        >>> r.method, r.variance_reduction > 0.8
        ('cuped_welch_t', True)
    """
    _require(control, MeanStats, "control")
    _require(treatment, MeanStats, "treatment")
    for name, s in (("control", control), ("treatment", treatment)):
        if not s.has_covariate:
            raise InvalidInput(
                "CUPED needs a pre-period covariate (has_covariate=True)",
                path=f"{name}.has_covariate",
            )
    if (status := _degenerate_n(control.n, treatment.n)) is not None:
        return _nan_from(_mean_arms(control, treatment), "cuped_welch_t", status, config)
    theta = cuped_theta(control, treatment)
    if math.isnan(theta):
        theta = 0.0
    x_bar = (control.covariate_total + treatment.covariate_total) / (control.n + treatment.n)

    def adjusted(s: MeanStats) -> tuple[float, float]:
        mean = s.mean - theta * (s.covariate_mean - x_bar)
        var = s.var - 2.0 * theta * s.cov + theta * theta * s.covariate_var
        return mean, max(var, 0.0)

    mc, vc = adjusted(control)
    mt, vt = adjusted(treatment)
    arms = _Arms(
        n_control=control.n,
        n_treatment=treatment.n,
        mean_control=mc,
        mean_treatment=mt,
        var_control=vc,
        var_treatment=vt,
        se2_control=vc / control.n,
        se2_treatment=vt / treatment.n,
    )
    raw = control.var / control.n + treatment.var / treatment.n
    if arms.se2_control + arms.se2_treatment == 0.0 or raw == 0.0:
        return _nan_from(arms, "cuped_welch_t", "zero_variance", config)
    reduction = 1.0 - (arms.se2_control + arms.se2_treatment) / raw
    return _compare(
        arms,
        method="cuped_welch_t",
        df=_welch_df(arms),
        config=config,
        variance_reduction=reduction,
    )
