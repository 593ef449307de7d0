"""PyMC models: agreement with conjugate results, diagnostics gate, caching, recovery."""

from __future__ import annotations

import math

import numpy as np
import pytest

from abwb.stats import MeanStats, beta_binomial
from abwb.stats.models import (
    SamplingConfig,
    fit_hierarchical,
    fit_revenue_hurdle,
)

pytestmark = pytest.mark.slow

FAST = SamplingConfig(draws=1000, tune=700, chains=4, seed=1)


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
    c, t = MeanStats.from_counts(200, 2000), MeanStats.from_counts(150, 2000)
    r = fit_hierarchical({"control": c, "b": t}, control="control", pooling="none",
                         sampling=FAST)
    assert r.compile_s == 0.0  # compiled by the previous test, same shape
    assert r.group("b").chance_to_beat_control < 0.01


def test_hierarchical_partial_pooling_shrinks_extremes() -> None:
    groups = {f"v{i}": MeanStats.from_counts(k, 2000)
              for i, k in enumerate([200, 205, 195, 210, 190, 240])}
    r = fit_hierarchical(groups, control="v0", sampling=FAST)
    assert r.status == "ok", r.diagnostics
    assert r.diagnostics.max_rhat <= 1.01 and r.diagnostics.min_ess_bulk >= 400
    assert r.diagnostics.divergences == 0
    raw_lift = 240 / 2000 - 200 / 2000
    assert 0 < r.group("v5").effect_abs < raw_lift  # shrunk towards the others


def test_hierarchical_means() -> None:
    rng = np.random.default_rng(41)
    groups = {f"s{i}": MeanStats.from_values(rng.normal(10 + 0.05 * i, 3, 1500))
              for i in range(5)}
    r = fit_hierarchical(groups, control="s0", kind="mean", sampling=FAST)
    assert r.status == "ok", r.diagnostics
    assert abs(r.group("s0").mean - groups["s0"].mean) < 0.2


def test_failing_diagnostics_report_status_not_numbers() -> None:
    # Same shape as the partial-pooling test above, so the compiled model is reused.
    groups = {f"v{i}": MeanStats.from_counts(200 + i, 2000) for i in range(6)}
    bad = SamplingConfig(draws=100, tune=50, chains=2, seed=2)  # far too short
    r = fit_hierarchical(groups, control="v0", sampling=bad)
    assert r.status == "diagnostics_failed"
    assert not r.diagnostics.passed
    assert all(math.isnan(g.effect_abs) for g in r.groups)


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
