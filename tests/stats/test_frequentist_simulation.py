"""Fixed-horizon methods validated by seeded simulation (A/A FPR, CI coverage, CUPED)."""

from __future__ import annotations

import numpy as np
import pytest

from abwb.stats import (
    AnalysisConfig,
    MeanStats,
    RatioStats,
    cuped_ttest,
    proportions_ztest,
    ratio_ztest,
    welch_ttest,
)

N_EXP = 2000
ALPHA = 0.05


def _mean_stats(y: np.ndarray, x: np.ndarray | None = None) -> list[MeanStats]:
    """Sufficient statistics per experiment (rows) computed directly, vectorised."""
    tot, tot_sq = y.sum(1), (y * y).sum(1)
    if x is None:
        return [MeanStats(y.shape[1], float(a), float(b)) for a, b in zip(tot, tot_sq,
                                                                           strict=True)]
    xt, xs, xy = x.sum(1), (x * x).sum(1), (x * y).sum(1)
    return [MeanStats(y.shape[1], float(a), float(b), float(c), float(d), float(e), True)
            for a, b, c, d, e in zip(tot, tot_sq, xt, xs, xy, strict=True)]


def _rate(flags: list[bool]) -> float:
    return float(np.mean(flags))


def test_welch_aa_false_positive_rate_skewed_data() -> None:
    rng = np.random.default_rng(11)
    c = _mean_stats(rng.lognormal(0, 1, (N_EXP, 400)))
    t = _mean_stats(rng.lognormal(0, 1, (N_EXP, 400)))
    fpr = _rate([welch_ttest(a, b).p_value < ALPHA for a, b in zip(c, t, strict=True)])
    print(f"Welch A/A FPR = {fpr:.4f}")
    assert 0.035 <= fpr <= 0.065


def test_proportion_aa_false_positive_rate() -> None:
    rng = np.random.default_rng(12)
    kc, kt = rng.binomial(1000, 0.08, N_EXP), rng.binomial(1000, 0.08, N_EXP)
    fpr = _rate([
        proportions_ztest(MeanStats.from_counts(int(a), 1000),
                          MeanStats.from_counts(int(b), 1000)).p_value < ALPHA
        for a, b in zip(kc, kt, strict=True)
    ])
    print(f"two-proportion z A/A FPR = {fpr:.4f}")
    assert 0.035 <= fpr <= 0.065


def test_welch_ci_coverage_absolute_and_relative() -> None:
    rng = np.random.default_rng(13)
    mu_c, mu_t = 1.0, 1.05  # exponential data: skewed, true relative lift 5 %
    c = _mean_stats(rng.exponential(mu_c, (N_EXP, 1000)))
    t = _mean_stats(rng.exponential(mu_t, (N_EXP, 1000)))
    res = [welch_ttest(a, b) for a, b in zip(c, t, strict=True)]
    cov_abs = _rate([r.ci_low <= mu_t - mu_c <= r.ci_high for r in res])
    cov_rel = _rate([r.ci_low_rel <= mu_t / mu_c - 1 <= r.ci_high_rel for r in res])
    print(f"Welch coverage abs = {cov_abs:.4f}, rel (delta) = {cov_rel:.4f}")
    assert 0.935 <= cov_abs <= 0.965
    assert 0.935 <= cov_rel <= 0.965


def test_proportion_ci_coverage_absolute_and_relative() -> None:
    rng = np.random.default_rng(14)
    pc, pt, n = 0.10, 0.11, 3000
    kc, kt = rng.binomial(n, pc, N_EXP), rng.binomial(n, pt, N_EXP)
    res = [proportions_ztest(MeanStats.from_counts(int(a), n), MeanStats.from_counts(int(b), n))
           for a, b in zip(kc, kt, strict=True)]
    cov_abs = _rate([r.ci_low <= pt - pc <= r.ci_high for r in res])
    cov_rel = _rate([r.ci_low_rel <= pt / pc - 1 <= r.ci_high_rel for r in res])
    print(f"proportion coverage abs = {cov_abs:.4f}, rel (delta) = {cov_rel:.4f}")
    assert 0.935 <= cov_abs <= 0.965
    assert 0.935 <= cov_rel <= 0.965


def test_one_sided_aa_false_positive_rate() -> None:
    rng = np.random.default_rng(15)
    c = _mean_stats(rng.normal(0, 1, (N_EXP, 200)))
    t = _mean_stats(rng.normal(0, 1, (N_EXP, 200)))
    cfg = AnalysisConfig(alternative="greater")
    fpr = _rate([welch_ttest(a, b, config=cfg).p_value < ALPHA for a, b in zip(c, t, strict=True)])
    assert 0.035 <= fpr <= 0.065


def test_ratio_delta_method_aa_fpr_and_coverage() -> None:
    rng = np.random.default_rng(16)
    n = 500

    def arm(p: float) -> list[RatioStats]:
        den = 1 + rng.poisson(2.0, (N_EXP, n))
        num = rng.binomial(den, p)
        return [RatioStats(n, float(a), float(b), float(c), float(d), float(e))
                for a, b, c, d, e in zip(num.sum(1), (num * num).sum(1), den.sum(1),
                                         (den * den).sum(1), (num * den).sum(1), strict=True)]

    c, t = arm(0.3), arm(0.3)
    fpr = _rate([ratio_ztest(a, b).p_value < ALPHA for a, b in zip(c, t, strict=True)])
    t2 = arm(0.33)
    res = [ratio_ztest(a, b) for a, b in zip(c, t2, strict=True)]
    cov_abs = _rate([r.ci_low <= 0.03 <= r.ci_high for r in res])
    cov_rel = _rate([r.ci_low_rel <= 0.1 <= r.ci_high_rel for r in res])
    print(f"ratio A/A FPR = {fpr:.4f}, coverage abs = {cov_abs:.4f}, rel = {cov_rel:.4f}")
    assert 0.035 <= fpr <= 0.065
    assert 0.935 <= cov_abs <= 0.965
    assert 0.935 <= cov_rel <= 0.965


@pytest.mark.parametrize("rho", [0.3, 0.6, 0.9])
def test_cuped_variance_reduction_close_to_rho_squared(rho: float) -> None:
    rng = np.random.default_rng(17)
    n = 20_000

    def arm(shift: float) -> MeanStats:
        x = rng.normal(5, 2, n)
        y = 10 + shift + rho * 3 / 2 * (x - 5) + rng.normal(0, 3 * np.sqrt(1 - rho**2), n)
        return MeanStats.from_values(y, x=x)

    r = cuped_ttest(arm(0.0), arm(0.1))
    print(f"rho^2 = {rho**2:.3f}, CUPED reduction = {r.variance_reduction:.4f}")
    assert abs(r.variance_reduction - rho**2) <= 0.03


def test_cuped_aa_fpr_and_coverage() -> None:
    rng = np.random.default_rng(18)
    n = 300
    x_c, x_t = rng.normal(0, 1, (N_EXP, n)), rng.normal(0, 1, (N_EXP, n))
    y_c = 0.7 * x_c + rng.normal(0, 0.7, (N_EXP, n))
    y_t = 0.7 * x_t + rng.normal(0, 0.7, (N_EXP, n)) + 0.05
    res = [cuped_ttest(a, b) for a, b in zip(_mean_stats(y_c, x_c), _mean_stats(y_t, x_t),
                                             strict=True)]
    coverage = _rate([r.ci_low <= 0.05 <= r.ci_high for r in res])
    print(f"CUPED coverage = {coverage:.4f}")
    assert 0.935 <= coverage <= 0.965
