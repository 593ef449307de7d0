"""Bayesian fast paths: conjugate / closed-form posteriors for a treatment vs control.

What belongs here: Beta-Binomial for conversion rates and the Normal approximation
for means (optionally with an informative Normal prior on the relative lift), each
reporting chance to beat control, expected loss and credible intervals. They work
on the same ``MeanStats`` as the frequentist tests and run in milliseconds.
Full MCMC models (hierarchical, revenue) are in ``models`` and need PyMC.

Definitions (C = control parameter, T = treatment parameter):

- chance to beat control: P(T > C | data);
- expected loss of shipping treatment (``risk_treatment``): E[max(C − T, 0)];
- expected loss of keeping control (``risk_control``): E[max(T − C, 0)];
- credible intervals are equal-tailed with probability 1 − alpha.

Losses are in the metric's units (absolute scale).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from abwb.errors import InvalidInput
from abwb.stats.config import AnalysisConfig
from abwb.stats.frequentist import relative_lift_se
from abwb.stats.results import Status
from abwb.stats.summary import MeanStats, require_binary

__all__ = ["BayesResult", "NormalPrior", "beta_binomial", "normal_means"]

_DEFAULT = AnalysisConfig()
_NAN = math.nan
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(256)


@dataclass(frozen=True, slots=True)
class NormalPrior:
    """Normal prior on the relative lift T/C − 1.

    Args:
        mean: Prior mean of the relative lift (0 = no expected change).
        sd: Prior standard deviation (> 0), e.g. 0.1 for "lifts beyond ±20 % are rare".

    Raises:
        InvalidInput: ``sd`` not > 0 or values not finite.
    """

    mean: float = 0.0
    sd: float = 0.1

    def __post_init__(self) -> None:
        if not math.isfinite(self.mean):
            raise InvalidInput(f"expected a finite number, got {self.mean!r}",
                               path="NormalPrior.mean")
        if not (math.isfinite(self.sd) and self.sd > 0):
            raise InvalidInput(f"expected sd > 0, got {self.sd!r}", path="NormalPrior.sd")


@dataclass(frozen=True, slots=True)
class BayesResult:
    """Posterior summary of treatment vs control.

    Attributes:
        method: ``beta_binomial`` or ``normal_approx``.
        status: See ``abwb.stats.results.Status``.
        n_control: Units in control.
        n_treatment: Units in treatment.
        mean_control: Posterior mean of the control parameter.
        mean_treatment: Posterior mean of the treatment parameter.
        effect_abs: Posterior mean of T − C.
        ci_low: Lower credible bound of T − C.
        ci_high: Upper credible bound of T − C.
        effect_rel: Posterior mean (normal) or median (Monte Carlo) of T/C − 1.
        ci_low_rel: Lower credible bound of T/C − 1.
        ci_high_rel: Upper credible bound of T/C − 1.
        chance_to_beat_control: P(T > C).
        risk_treatment: E[max(C − T, 0)], expected loss of shipping treatment.
        risk_control: E[max(T − C, 0)], expected loss of keeping control.
        alpha: Credible intervals have probability 1 − alpha.
        prior: Human-readable prior description.
        metric: Metric key (set by ``analyze``; empty when called directly).
        control: Control variant key.
        treatment: Treatment variant key.
    """

    method: str
    status: Status
    n_control: int
    n_treatment: int
    mean_control: float
    mean_treatment: float
    effect_abs: float
    ci_low: float
    ci_high: float
    effect_rel: float
    ci_low_rel: float
    ci_high_rel: float
    chance_to_beat_control: float
    risk_treatment: float
    risk_control: float
    alpha: float
    prior: str
    metric: str = ""
    control: str = "control"
    treatment: str = "treatment"


def _nan_result(method: str, status: Status, c: MeanStats, t: MeanStats,
                alpha: float, prior: str) -> BayesResult:
    return BayesResult(method, status, c.n, t.n, _NAN, _NAN, _NAN, _NAN, _NAN, _NAN, _NAN,
                       _NAN, _NAN, _NAN, _NAN, alpha, prior)


def beta_binomial(
    control: MeanStats,
    treatment: MeanStats,
    *,
    prior_alpha: float = 1.0,
    prior_beta: float = 1.0,
    config: AnalysisConfig = _DEFAULT,
    draws: int = 200_000,
    seed: int = 0,
) -> BayesResult:
    """Beta-Binomial posterior comparison of two conversion rates.

    Posteriors are Beta(a + k, b + n − k). Chance to beat control and both expected
    losses are one-dimensional integrals over the control posterior, computed by
    256-point Gauss–Legendre quadrature on its 1e-12…1−1e-12 quantile range using
    E[(T − x)+] = m_T·S_{T+}(x) − x·S_T(x), where T+ ~ Beta(a_T + 1, b_T) and m_T its
    mean. Credible intervals of the lifts use ``draws`` seeded Monte Carlo draws, so
    the result is deterministic for a given ``seed``.

    Args:
        control: Control statistics of a 0/1 metric.
        treatment: Treatment statistics of a 0/1 metric.
        prior_alpha: Beta prior a (> 0), shared by both arms.
        prior_beta: Beta prior b (> 0).
        config: ``alpha`` sets the credible level.
        draws: Monte Carlo draws for the credible intervals.
        seed: Seed of the Monte Carlo draws.

    Returns:
        The posterior summary; ``empty_arm`` status when an arm has no units.

    Raises:
        InvalidInput: Not 0/1 data, or non-positive prior parameters / draws.

    References:
        Stucchio, C. (2015), "Bayesian A/B Testing at VWO" (expected loss);
        Gelman et al. (2013), Bayesian Data Analysis, 3rd ed., §2.4.

    Examples:
        >>> r = beta_binomial(MeanStats.from_counts(100, 1000),
        ...                   MeanStats.from_counts(130, 1000))
        >>> round(r.chance_to_beat_control, 3), r.risk_treatment < 0.001
        (0.982, True)
    """
    require_binary(control, "control")
    require_binary(treatment, "treatment")
    for name, v in (("prior_alpha", prior_alpha), ("prior_beta", prior_beta)):
        if not (math.isfinite(v) and v > 0):
            raise InvalidInput(f"expected > 0, got {v!r}", path=name)
    if draws < 1000:
        raise InvalidInput(f"expected draws >= 1000, got {draws!r}", path="draws")
    prior = f"Beta({prior_alpha:g}, {prior_beta:g})"
    if control.n == 0 or treatment.n == 0:
        return _nan_result("beta_binomial", "empty_arm", control, treatment, config.alpha, prior)
    ac, bc = prior_alpha + control.total, prior_beta + control.n - control.total
    at, bt = prior_alpha + treatment.total, prior_beta + treatment.n - treatment.total
    lo = float(special.betaincinv(ac, bc, 1e-12))
    hi = float(special.betaincinv(ac, bc, 1.0 - 1e-12))
    x = 0.5 * (hi - lo) * _NODES + 0.5 * (hi + lo)
    w = 0.5 * (hi - lo) * _WEIGHTS * stats.beta.pdf(x, ac, bc)
    mc, mt = ac / (ac + bc), at / (at + bt)
    sf_t = special.betaincc(at, bt, x)
    sf_t_plus = special.betaincc(at + 1.0, bt, x)
    ctb = float(w @ sf_t)
    risk_control = float(w @ (mt * sf_t_plus - x * sf_t))  # E[(T − C)+]
    # E[(C − T)+] = E[(T − C)+] − E[T − C]
    risk_treatment = risk_control - (mt - mc)
    rng = np.random.default_rng(seed)
    pc = rng.beta(ac, bc, draws)
    pt = rng.beta(at, bt, draws)
    q = [config.alpha / 2.0, 0.5, 1.0 - config.alpha / 2.0]
    diff_q = np.quantile(pt - pc, q)
    rel_q = np.quantile(pt / pc - 1.0, q)
    return BayesResult(
        method="beta_binomial",
        status="ok",
        n_control=control.n,
        n_treatment=treatment.n,
        mean_control=mc,
        mean_treatment=mt,
        effect_abs=mt - mc,
        ci_low=float(diff_q[0]),
        ci_high=float(diff_q[2]),
        effect_rel=float(rel_q[1]),
        ci_low_rel=float(rel_q[0]),
        ci_high_rel=float(rel_q[2]),
        chance_to_beat_control=min(max(ctb, 0.0), 1.0),
        risk_treatment=max(risk_treatment, 0.0),
        risk_control=max(risk_control, 0.0),
        alpha=config.alpha,
        prior=prior,
    )


def _normal_losses(mean: float, sd: float) -> tuple[float, float, float]:
    """For D ~ N(mean, sd²): P(D > 0), E[max(−D, 0)], E[max(D, 0)]."""
    z = mean / sd
    pdf = math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    ctb = float(special.ndtr(z))
    loss_neg = sd * pdf - mean * float(special.ndtr(-z))
    loss_pos = sd * pdf + mean * ctb
    return ctb, max(loss_neg, 0.0), max(loss_pos, 0.0)


def normal_means(
    control: MeanStats,
    treatment: MeanStats,
    *,
    prior: NormalPrior | None = None,
    config: AnalysisConfig = _DEFAULT,
) -> BayesResult:
    """Normal-approximation posterior of a difference in means, optional prior on the lift.

    Without a prior (flat), the posterior of T − C is N(ȳ_t − ȳ_c, s²_c/n_c + s²_t/n_t).
    With ``prior`` N(m₀, s₀²) on the relative lift L = T/C − 1, the likelihood of L
    is N(L̂, ŝe_L²) by the delta method and the posterior is conjugate Normal:
    precision 1/s₀² + 1/ŝe_L², mean weighted by precisions; absolute quantities are
    rescaled by ȳ_c (requires ȳ_c > 0). This shrinks noisy lifts towards m₀, like
    gbstats' informative prior.

    Args:
        control: Control statistics.
        treatment: Treatment statistics.
        prior: Optional Normal prior on the relative lift.
        config: ``alpha`` sets the credible level.

    Returns:
        The posterior summary; degenerate data gives a status and NaN.

    Raises:
        InvalidInput: Bad argument types.

    References:
        Gelman et al. (2013), Bayesian Data Analysis, 3rd ed., §2.5; Deng (2015),
        "Objective Bayesian Two Sample Hypothesis Testing for Online Controlled
        Experiments", WWW.

    Examples:
        >>> c = MeanStats(n=1000, total=10_000.0, total_sq=200_000.0)
        >>> t = MeanStats(n=1000, total=10_500.0, total_sq=220_000.0)
        >>> round(normal_means(c, t).chance_to_beat_control, 3)
        0.862
        >>> round(normal_means(c, t, prior=NormalPrior(0.0, 0.01)).chance_to_beat_control, 3)
        0.588
    """
    for name, s in (("control", control), ("treatment", treatment)):
        if not isinstance(s, MeanStats):
            raise InvalidInput(f"expected MeanStats, got {type(s).__name__}", path=name)
    label = "flat" if prior is None else f"Normal(rel; {prior.mean:g}, {prior.sd:g})"
    if control.n == 0 or treatment.n == 0:
        return _nan_result("normal_approx", "empty_arm", control, treatment, config.alpha, label)
    if control.n < 2 or treatment.n < 2:
        return _nan_result("normal_approx", "insufficient_n", control, treatment, config.alpha,
                           label)
    mc, mt = control.mean, treatment.mean
    v_c, v_t = control.var / control.n, treatment.var / treatment.n
    if v_c + v_t == 0.0:
        return _nan_result("normal_approx", "zero_variance", control, treatment, config.alpha,
                           label)
    zq = float(special.ndtri(1.0 - config.alpha / 2.0))
    if prior is None:
        d, sd = mt - mc, math.sqrt(v_c + v_t)
        if mc != 0:
            rel = mt / mc - 1.0
            se_rel = relative_lift_se(mc, mt, v_c, v_t)  # NaN when degenerate
        else:
            rel = se_rel = _NAN
        post_c, post_t = mc, mt
    else:
        if mc <= 0:
            return _nan_result("normal_approx", "zero_control_mean", control, treatment,
                               config.alpha, label)
        rel_hat = mt / mc - 1.0
        se_hat = relative_lift_se(mc, mt, v_c, v_t)
        if math.isnan(se_hat):
            return _nan_result("normal_approx", "zero_variance", control, treatment,
                               config.alpha, label)
        prec = 1.0 / prior.sd**2 + 1.0 / se_hat**2
        rel = (prior.mean / prior.sd**2 + rel_hat / se_hat**2) / prec
        se_rel = math.sqrt(1.0 / prec)
        d, sd = rel * mc, se_rel * mc
        post_c, post_t = mc, mc * (1.0 + rel)
    ctb, risk_t, risk_c = _normal_losses(d, sd)
    return BayesResult(
        method="normal_approx",
        status="ok" if mc != 0 else "zero_control_mean",
        n_control=control.n,
        n_treatment=treatment.n,
        mean_control=post_c,
        mean_treatment=post_t,
        effect_abs=d,
        ci_low=d - zq * sd,
        ci_high=d + zq * sd,
        effect_rel=rel,
        ci_low_rel=rel - zq * se_rel,
        ci_high_rel=rel + zq * se_rel,
        chance_to_beat_control=ctb,
        risk_treatment=risk_t,
        risk_control=risk_c,
        alpha=config.alpha,
        prior=label,
    )
