"""Agreement with scipy and statsmodels where they compute the same thing (to 1e-8)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats import power as smp
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest as sm_proportions_ztest

from abwb.stats import (
    AnalysisConfig,
    MeanStats,
    adjust_p_values,
    compute_power,
    mde,
    proportions_ztest,
    sample_size,
    srm_test,
    welch_ttest,
)

ALTS = [("two-sided", "two-sided", "two-sided"), ("greater", "greater", "larger"),
        ("less", "less", "smaller")]


@pytest.mark.parametrize(("ours", "scipy_alt", "_sm"), ALTS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_welch_matches_scipy(ours: str, scipy_alt: str, _sm: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    c, t = rng.normal(10, 3, 57), rng.exponential(10.5, 91)
    cfg = AnalysisConfig(alternative=ours)  # type: ignore[arg-type]
    r = welch_ttest(MeanStats.from_values(c), MeanStats.from_values(t), config=cfg)
    ref = stats.ttest_ind(t, c, equal_var=False, alternative=scipy_alt)  # type: ignore[arg-type]
    ci = ref.confidence_interval(0.95)
    assert r.status == "ok"
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-8)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-8)
    assert r.df == pytest.approx(ref.df, rel=1e-8)
    assert r.ci_low == pytest.approx(ci.low, rel=1e-8)
    assert r.ci_high == pytest.approx(ci.high, rel=1e-8)


@pytest.mark.parametrize(("ours", "_scipy", "sm_alt"), ALTS)
@pytest.mark.parametrize(("kc", "nc", "kt", "nt"), [(100, 1000, 130, 1000), (37, 412, 29, 388),
                                                    (5000, 50000, 5150, 49000)])
def test_proportion_z_matches_statsmodels(ours: str, _scipy: str, sm_alt: str, kc: int,
                                          nc: int, kt: int, nt: int) -> None:
    cfg = AnalysisConfig(alternative=ours)  # type: ignore[arg-type]
    r = proportions_ztest(MeanStats.from_counts(kc, nc), MeanStats.from_counts(kt, nt),
                          config=cfg)
    z, p = sm_proportions_ztest([kt, kc], [nt, nc], alternative=sm_alt)
    assert r.statistic == pytest.approx(z, rel=1e-8)
    assert r.p_value == pytest.approx(p, rel=1e-8)


def test_proportion_ci_is_unpooled_wald() -> None:
    from statsmodels.stats.proportion import confint_proportions_2indep

    r = proportions_ztest(MeanStats.from_counts(100, 1000), MeanStats.from_counts(130, 1000))
    lo, hi = confint_proportions_2indep(130, 1000, 100, 1000, method="wald")
    assert (r.ci_low, r.ci_high) == pytest.approx((lo, hi), rel=1e-8)


@pytest.mark.parametrize("method", ["holm", "bh"])
def test_corrections_match_statsmodels(method: str) -> None:
    rng = np.random.default_rng(7)
    p = np.concatenate([rng.uniform(0, 1, 40), rng.uniform(0, 0.01, 20)])
    ref = multipletests(p, method={"holm": "holm", "bh": "fdr_bh"}[method])[1]
    assert adjust_p_values(list(p), method) == pytest.approx(list(ref), rel=1e-12)  # type: ignore[arg-type]


def test_corrections_skip_nan() -> None:
    out = adjust_p_values([0.01, math.nan, 0.04], "holm")
    assert math.isnan(out[1])
    assert out[0] == pytest.approx(0.02) and out[2] == pytest.approx(0.04)


@pytest.mark.parametrize(("counts", "weights"), [
    ((5100, 4900), (1, 1)), ((3300, 3400, 3300), (1, 1, 1)), ((2000, 8100), (0.2, 0.8)),
])
def test_srm_matches_scipy_chisquare(counts: tuple[int, ...], weights: tuple[float, ...]) -> None:
    names = [f"v{i}" for i in range(len(counts))]
    r = srm_test(dict(zip(names, counts, strict=True)), dict(zip(names, weights, strict=True)))
    w = np.array(weights, float)
    ref = stats.chisquare(counts, f_exp=sum(counts) * w / w.sum())
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-8)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-8)


@pytest.mark.parametrize(("ours", "_s", "sm_alt"), ALTS)
@pytest.mark.parametrize("ratio", [1.0, 2.0])
def test_power_matches_statsmodels(ours: str, _s: str, sm_alt: str, ratio: float) -> None:
    cfg = AnalysisConfig(alpha=0.05, alternative=ours)  # type: ignore[arg-type]
    effect = -0.1 if ours == "less" else 0.1
    for n in (50.0, 500.0, 2000.0):
        ours_z = compute_power(effect_abs=effect, var=1.0, n_control=n, treatment_ratio=ratio,
                               config=cfg)
        ref_z = smp.NormalIndPower().power(effect, n, 0.05, ratio=ratio, alternative=sm_alt)
        assert ours_z == pytest.approx(ref_z, rel=1e-8)
        ours_t = compute_power(effect_abs=effect, var=1.0, n_control=n, treatment_ratio=ratio,
                               config=cfg, distribution="t")
        ref_t = smp.TTestIndPower().power(effect, n, 0.05, ratio=ratio, alternative=sm_alt)
        assert ours_t == pytest.approx(ref_t, rel=1e-8)


@pytest.mark.parametrize("distribution", ["normal", "t"])
@pytest.mark.parametrize("effect", [0.05, 0.2, 0.5])
def test_sample_size_and_mde_match_statsmodels(distribution: str, effect: float) -> None:
    solver = smp.zt_ind_solve_power if distribution == "normal" else smp.tt_ind_solve_power
    ref_n = solver(effect_size=effect, alpha=0.05, power=0.8, ratio=1.0)
    r = sample_size(effect_abs=effect, var=1.0, target_power=0.8,
                    distribution=distribution)  # type: ignore[arg-type]
    # Both solve the same equation by root-finding; statsmodels' tolerance is the looser.
    assert r.n_control_exact == pytest.approx(ref_n, rel=1e-6)
    assert r.n_control == math.ceil(ref_n)
    ref_d = solver(nobs1=r.n_control_exact, alpha=0.05, power=0.8, ratio=1.0)
    ours_d = mde(var=1.0, n_control=r.n_control_exact,
                 distribution=distribution)  # type: ignore[arg-type]
    # statsmodels' effect-size solver stops at ~1e-5; ours is exact, which the
    # statsmodels power function itself confirms to 1e-8.
    assert ours_d == pytest.approx(ref_d, rel=1e-4)
    assert ours_d == pytest.approx(effect, rel=1e-8)
    cls = smp.NormalIndPower if distribution == "normal" else smp.TTestIndPower
    assert cls().power(ours_d, r.n_control_exact, 0.05) == pytest.approx(0.8, rel=1e-8)


def test_cuped_power_uses_reduced_variance() -> None:
    plain = sample_size(effect_abs=0.1, var=4.0)
    cuped = sample_size(effect_abs=0.1, var=4.0, variance_reduction=0.36)
    assert cuped.n_control_exact == pytest.approx(plain.n_control_exact * 0.64, rel=1e-9)
