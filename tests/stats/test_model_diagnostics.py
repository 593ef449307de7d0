"""Fast checks of the Bayesian models' plumbing: the diagnostics gate on hand-built draws,
the exact normal hierarchical posterior against brute-force integration, and the readable
summary. Nothing here runs MCMC."""

from __future__ import annotations

import math

import arviz_base
import numpy as np
import pytest

from abwb.errors import InvalidInput
from abwb.stats import MeanStats
from abwb.stats.models import (
    Diagnostics,
    GroupPosterior,
    ModelResult,
    SamplingConfig,
    _diagnose,
    fit_hierarchical,
    format_model_result,
)
from abwb.stats.normal_hierarchy import normal_hierarchy_posterior

CFG = SamplingConfig()


def _draws(mu: np.ndarray, diverging: np.ndarray | None = None) -> object:
    chains, n = mu.shape
    div = np.zeros((chains, n), bool) if diverging is None else diverging
    return arviz_base.from_dict({"posterior": {"mu": mu}, "sample_stats": {"diverging": div}})


def test_gate_passes_well_mixed_chains() -> None:
    rng = np.random.default_rng(0)
    d = _diagnose(_draws(rng.normal(size=(4, 1000))), ["mu"], CFG)
    assert d.passed and d.max_rhat < 1.01 and d.min_ess_bulk > 2000 and d.divergences == 0


def test_gate_fails_chains_stuck_in_different_places() -> None:
    rng = np.random.default_rng(1)
    mu = rng.normal(size=(4, 1000))
    mu[3] += 3.0  # one chain never found the others' mode (the frozen-chain failure)
    d = _diagnose(_draws(mu), ["mu"], CFG)
    assert not d.passed and d.max_rhat > 1.1


def test_gate_fails_sticky_chains_with_low_ess() -> None:
    rng = np.random.default_rng(2)
    # AR(1) with φ = 0.995: mixes over the right range, but ESS ≈ N (1 − φ)/(1 + φ)
    mu = np.zeros((4, 1000))
    for t in range(1, 1000):
        mu[:, t] = 0.995 * mu[:, t - 1] + rng.normal(size=4) * math.sqrt(1 - 0.995**2)
    d = _diagnose(_draws(mu), ["mu"], CFG)
    assert not d.passed and d.min_ess_bulk < 400


def test_gate_fails_on_any_divergence() -> None:
    rng = np.random.default_rng(3)
    div = np.zeros((4, 1000), bool)
    div[2, 17] = True
    d = _diagnose(_draws(rng.normal(size=(4, 1000)), div), ["mu"], CFG)
    assert d.divergences == 1 and not d.passed and d.max_rhat < 1.01


def _brute_force_theta_means(y: np.ndarray, se: np.ndarray) -> np.ndarray:
    """E[θ | ȳ] by a 2-D grid over (μ, τ) — independent of the 1-D quadrature's algebra."""
    mu = np.linspace(-1.5, 1.5, 1201)[:, None, None]
    tau = np.linspace(0.0, 1.5, 3001)[None, :, None]
    v = tau**2 + se**2
    log_p = (-0.5 * mu[..., 0] ** 2 - 0.5 * tau[..., 0] ** 2
             + (-0.5 * np.log(v) - 0.5 * (y - mu) ** 2 / v).sum(axis=-1))
    w = np.exp(log_p - log_p.max())
    w[:, 0] *= 0.5  # trapezoid: τ = 0 is an end point
    w /= w.sum()
    theta = y - se**2 / v * (y - mu)  # E[θ_g | μ, τ, ȳ]
    return np.einsum("ij,ijg->g", w, theta)


@pytest.mark.parametrize("case", ["similar", "spread", "one_outlier"])
def test_exact_normal_posterior_matches_brute_force(case: str) -> None:
    y = {"similar": np.array([0.01, -0.02, 0.015, 0.0, -0.005]),
         "spread": np.array([0.4, -0.3, 0.1, 0.0, -0.2]),
         "one_outlier": np.array([0.0, 0.01, -0.01, 0.005, 0.3])}[case]
    se = np.array([0.05, 0.06, 0.05, 0.08, 0.05])
    post = normal_hierarchy_posterior(y, se, draws=200_000, seed=5)
    ref = _brute_force_theta_means(y, se)
    sd = post.theta_draws.std(axis=0)
    np.testing.assert_allclose(post.theta_mean, ref, rtol=0, atol=2e-3 * float(sd.min()))
    # the independent draws agree with the exact means (Monte Carlo error ~ sd / 450)
    np.testing.assert_allclose(post.theta_draws.mean(axis=0), post.theta_mean, rtol=0,
                               atol=0.01 * float(sd.min()))


def test_exact_engine_shrinks_and_is_reproducible() -> None:
    rng = np.random.default_rng(41)
    groups = {f"s{i}": MeanStats.from_values(rng.normal(10 + 0.05 * i, 3, 1500))
              for i in range(5)}
    groups["s4"] = MeanStats.from_values(rng.normal(10.6, 3, 1500))
    r = fit_hierarchical(groups, control="s0", kind="mean")
    assert r.status == "ok" and r.sampler == "quadrature" and r.diagnostics.passed
    raw = groups["s4"].mean - groups["s0"].mean
    assert 0 < r.group("s4").effect_abs < raw  # shrunk towards the others
    again = fit_hierarchical(groups, control="s0", kind="mean")  # same seed, same result
    assert repr(again.groups) == repr(r.groups)
    g = r.group("s4")
    assert g.ci_low < g.effect_abs < g.ci_high and g.ci_low_rel < g.effect_rel < g.ci_high_rel


def test_exact_engine_without_pooling_is_the_conjugate_normal() -> None:
    a, b = MeanStats.from_values(np.arange(100.0)), MeanStats.from_values(np.arange(100.0) + 3)
    r = fit_hierarchical({"a": a, "b": b}, control="a", kind="mean", pooling="none")
    # prior N(0, 10) on the standardised scale is all but flat: the raw difference survives
    assert r.group("b").effect_abs == pytest.approx(3.0, rel=1e-3)


def test_exact_engine_refuses_proportions() -> None:
    c = MeanStats.from_counts(10, 100)
    with pytest.raises(InvalidInput, match="engine"):
        fit_hierarchical({"a": c, "b": c}, control="a", engine="exact")


def test_failed_gate_reads_as_words_not_a_repr() -> None:
    d = Diagnostics(1.6, 6.8, 0, False, 1.01, 400.0)
    g = (GroupPosterior("v0", 2000, *([math.nan] * 8)),
         GroupPosterior("v1", 2000, *([math.nan] * 8)))
    r = ModelResult("hierarchical_binomial_partial", "diagnostics_failed", "v0", g, d,
                    "nutpie", 2.0, 3.0)
    text = str(r)
    assert text == format_model_result(r)
    assert "NOT REPORTED" in text and "max r-hat 1.600 > 1.01" in text
    assert "min bulk ESS 7 < 400" in text and "divergences" not in text
    assert "nan" not in text.lower() and "ModelResult(" not in text


def test_passed_result_reads_per_group() -> None:
    rng = np.random.default_rng(7)
    groups = {k: MeanStats.from_values(rng.normal(m, 1, 500)) for k, m in [("a", 5), ("b", 5.3)]}
    text = str(fit_hierarchical(groups, control="a", kind="mean"))
    lines = text.splitlines()
    assert lines[0].startswith("hierarchical_normal_partial: ok") and "quadrature" in lines[0]
    assert lines[1].startswith("  a (control): mean")
    assert lines[2].startswith("  b: mean") and "P(> a)" in lines[2] and "nan" not in text
