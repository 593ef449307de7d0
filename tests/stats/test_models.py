"""PyMC models: agreement with exact references across seeds, caching, recovery.

A seed gives other chains on another CPU, so nothing here trusts one seed: the MCMC
agreement tests run 20 seeds at the library defaults and require ≥ 19 to pass the
diagnostics gate *and* agree with an exact reference (quadrature / conjugate) within
2 % of the credible interval's width. The gate itself is tested on hand-built draws in
test_model_diagnostics.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

from abwb.stats import MeanStats, beta_binomial
from abwb.stats.models import (
    ModelResult,
    SamplingConfig,
    clear_model_cache,
    fit_hierarchical,
    fit_revenue_hurdle,
)

pytestmark = pytest.mark.slow

FAST = SamplingConfig(draws=1000, tune=700, chains=4, seed=1)
SEEDS = range(20)
BINOMIAL_COUNTS = [200, 205, 195, 210, 190, 240]


def binomial_groups() -> dict[str, MeanStats]:
    return {f"v{i}": MeanStats.from_counts(k, 2000) for i, k in enumerate(BINOMIAL_COUNTS)}


def mean_groups() -> dict[str, MeanStats]:
    rng = np.random.default_rng(41)
    return {f"s{i}": MeanStats.from_values(rng.normal(10 + 0.05 * i, 3, 1500)) for i in range(5)}


def binomial_reference_means(ks: list[int], ns: list[int]) -> np.ndarray:
    """Exact E[p_g | data] of the partially pooled binomial model, by quadrature.

    logit p_g ~ N(μ, τ), μ ~ N(0, 2.5), τ ~ HalfNormal(1). On a (μ, τ) grid each group's
    ∫ Binomial(k_g | n_g, invlogit θ) N(θ | μ, τ) dθ is computed by Gauss–Hermite quadrature
    centred on the group's conditional posterior (its normal approximation), which is
    accurate for every τ, including τ → 0.
    """
    k, n = np.array(ks, float)[:, None], np.array(ns, float)[:, None]  # (groups, 1 node)
    p_hat = (k + 0.5) / (n + 1)
    theta_hat, s2 = special.logit(p_hat), 1 / (n * p_hat * (1 - p_hat))
    pooled = special.logit(k.sum() / n.sum())
    mu = (pooled + np.linspace(-0.4, 0.4, 161))[:, None, None, None]
    u = np.linspace(0, 1, 241)
    tau = (0.8 * u**2 + 1e-9)[None, :, None, None]
    x, wx = np.polynomial.hermite.hermgauss(32)
    prec = 1 / s2 + 1 / tau**2
    m = (theta_hat / s2 + mu / tau**2) / prec
    sd = np.sqrt(2 / prec)  # (mu, tau, groups, 1)
    theta = m + sd * x  # (mu, tau, groups, nodes)
    # binomial log-likelihood up to its constant log C(n, k), which cancels on normalising
    log_lik = k * special.log_expit(theta) + (n - k) * special.log_expit(-theta)
    log_f = log_lik - 0.5 * ((theta - mu) / tau) ** 2 - np.log(tau) + x**2
    shift = log_f.max(axis=-1, keepdims=True)
    f = np.exp(log_f - shift) * wx
    log_int = np.log(f.sum(-1)) + shift[..., 0] + np.log(sd[..., 0])  # (mu, tau, groups)
    p_given = (f * special.expit(theta)).sum(-1) / f.sum(-1)
    dtau = np.gradient(tau[0, :, 0, 0])
    log_w = (log_int.sum(-1) + stats.norm.logpdf(mu[:, 0, 0, 0], 0, 2.5)[:, None]
             + stats.halfnorm.logpdf(tau[0, :, 0, 0], scale=1.0)[None, :] + np.log(dtau)[None, :])
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    return np.einsum("ij,ijg->g", w, p_given)


def _agrees(r: ModelResult, exact_means: np.ndarray, tol: float = 0.02) -> bool:
    """Every group's posterior mean within tol × (its effect's credible interval width)."""
    for g, exact in zip(r.groups, exact_means, strict=True):
        width = max(x.ci_high - x.ci_low for x in r.groups if x.name != r.control)
        if not abs(g.mean - exact) <= tol * width:
            return False
    return True


def test_binomial_reference_is_sane() -> None:
    # no pooling signal in identical groups: every mean ≈ the pooled rate
    same = binomial_reference_means([200] * 4, [2000] * 4)
    np.testing.assert_allclose(same, 0.1, atol=2e-4)
    ref = binomial_reference_means(BINOMIAL_COUNTS, [2000] * 6)
    assert 0.11 < ref[5] < 0.12  # 240/2000 shrunk towards the others' ~0.1
    assert abs(ref[0] - 0.1) < 0.004


def test_binomial_hierarchical_passes_and_agrees_on_19_of_20_seeds() -> None:
    groups = binomial_groups()
    exact = binomial_reference_means(BINOMIAL_COUNTS, [2000] * 6)
    outcomes = []
    for seed in SEEDS:
        r = fit_hierarchical(groups, control="v0", sampling=SamplingConfig(seed=seed))
        outcomes.append((r.status == "ok" and _agrees(r, exact), r.diagnostics,
                         [round(g.mean, 5) for g in r.groups]))
    good = sum(ok for ok, _, _ in outcomes)
    print(f"binomial: {good}/20 seeds pass the gate and agree with {np.round(exact, 5)}")
    assert good >= 19, [o for o in outcomes if not o[0]]


def test_mean_hierarchical_mcmc_passes_and_agrees_with_quadrature_on_19_of_20_seeds() -> None:
    groups = mean_groups()
    exact = fit_hierarchical(groups, control="s0", kind="mean")
    exact_means = np.array([g.mean for g in exact.groups])
    outcomes = []
    for seed in SEEDS:
        r = fit_hierarchical(groups, control="s0", kind="mean", engine="mcmc",
                             sampling=SamplingConfig(seed=seed))
        outcomes.append((r.status == "ok" and _agrees(r, exact_means), r.diagnostics))
    good = sum(ok for ok, _ in outcomes)
    print(f"mean (MCMC): {good}/20 seeds pass the gate and agree with the quadrature")
    assert good >= 19, [o for o in outcomes if not o[0]]
    # the exact engine's credible intervals match MCMC's (independent draws either way)
    r = fit_hierarchical(groups, control="s0", kind="mean", engine="mcmc",
                         sampling=SamplingConfig(seed=0))
    for a, b in zip(exact.groups[1:], r.groups[1:], strict=True):
        width = a.ci_high - a.ci_low
        assert abs(a.ci_low - b.ci_low) < 0.05 * width and abs(a.ci_high - b.ci_high) < 0.05 * width


def test_pymc_and_conjugate_chance_to_beat_control_agree() -> None:
    c, t = MeanStats.from_counts(200, 2000), MeanStats.from_counts(228, 2000)
    r = fit_hierarchical({"control": c, "b": t}, control="control", pooling="none",
                         sampling=FAST)
    conj = beta_binomial(c, t)
    print(f"CTB conjugate = {conj.chance_to_beat_control:.4f}, "
          f"PyMC = {r.group('b').chance_to_beat_control:.4f}")
    assert r.status == "ok" and r.diagnostics.passed
    assert abs(r.group("b").chance_to_beat_control - conj.chance_to_beat_control) <= 0.02
    assert r.group("b").effect_abs == pytest.approx(conj.effect_abs, abs=0.003)


def test_cached_model_reused_with_new_data() -> None:
    clear_model_cache()  # this test warms its own cache: no dependence on test order
    first = fit_hierarchical({"control": MeanStats.from_counts(200, 2000),
                              "b": MeanStats.from_counts(260, 2000)},
                             control="control", pooling="none", sampling=FAST)
    assert first.compile_s > 0.0 and first.group("b").chance_to_beat_control > 0.99
    c, t = MeanStats.from_counts(200, 2000), MeanStats.from_counts(150, 2000)
    r = fit_hierarchical({"control": c, "b": t}, control="control", pooling="none",
                         sampling=FAST)
    assert r.compile_s == 0.0  # same model and shape: compiled once, new data swapped in
    assert r.group("b").chance_to_beat_control < 0.01


def test_hierarchical_partial_pooling_shrinks_extremes() -> None:
    r = fit_hierarchical(binomial_groups(), control="v0", sampling=FAST)
    assert r.status == "ok", r.diagnostics
    raw_lift = 240 / 2000 - 200 / 2000
    assert 0 < r.group("v5").effect_abs < raw_lift  # shrunk towards the others


def test_failing_diagnostics_report_status_not_numbers() -> None:
    groups = {f"v{i}": MeanStats.from_counts(200 + i, 2000) for i in range(6)}
    bad = SamplingConfig(draws=100, tune=50, chains=2, seed=2)  # 200 draws: ESS < 400
    r = fit_hierarchical(groups, control="v0", sampling=bad)
    assert r.status == "diagnostics_failed"
    assert not r.diagnostics.passed
    assert all(math.isnan(g.effect_abs) for g in r.groups)
    assert "NOT REPORTED - MCMC diagnostics failed" in str(r)


def test_hurdle_lognormal_recovers_mean_revenue() -> None:
    rng = np.random.default_rng(42)
    n = 4000

    def revenue(p: float, mu: float, sigma: float) -> np.ndarray:
        return (rng.random(n) < p) * rng.lognormal(mu, sigma, n)

    values = {"control": revenue(0.1, 3.0, 1.0), "b": revenue(0.12, 3.0, 1.0)}
    r = fit_revenue_hurdle(values, control="control", sampling=FAST)
    assert r.status == "ok", r.diagnostics
    true_c, true_b = 0.1 * math.exp(3.5), 0.12 * math.exp(3.5)
    g_c, g_b = r.group("control"), r.group("b")
    assert g_c.mean == pytest.approx(true_c, rel=0.2)
    assert g_b.ci_low_rel <= true_b / true_c - 1 <= g_b.ci_high_rel
    assert g_b.chance_to_beat_control > 0.8
