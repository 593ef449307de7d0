"""Conjugate fast paths against brute-force Monte Carlo and their limiting behaviour."""

from __future__ import annotations

import numpy as np
import pytest

from abwb.stats import MeanStats, NormalPrior, beta_binomial, normal_means, welch_ttest


@pytest.mark.parametrize(("kc", "nc", "kt", "nt"), [(100, 1000, 130, 1000), (12, 80, 9, 95),
                                                    (4000, 50000, 4100, 50000)])
def test_beta_binomial_matches_monte_carlo(kc: int, nc: int, kt: int, nt: int) -> None:
    r = beta_binomial(MeanStats.from_counts(kc, nc), MeanStats.from_counts(kt, nt))
    rng = np.random.default_rng(31)
    pc = rng.beta(1 + kc, 1 + nc - kc, 2_000_000)
    pt = rng.beta(1 + kt, 1 + nt - kt, 2_000_000)
    assert r.chance_to_beat_control == pytest.approx((pt > pc).mean(), abs=2e-3)
    scale = np.abs(pt - pc).mean()
    assert r.risk_treatment == pytest.approx(np.maximum(pc - pt, 0).mean(), abs=0.01 * scale)
    assert r.risk_control == pytest.approx(np.maximum(pt - pc, 0).mean(), abs=0.01 * scale)
    assert r.ci_low == pytest.approx(np.quantile(pt - pc, 0.025), abs=0.02 * scale)


def test_beta_binomial_is_deterministic_for_a_seed() -> None:
    c, t = MeanStats.from_counts(10, 100), MeanStats.from_counts(15, 100)
    assert beta_binomial(c, t, seed=3) == beta_binomial(c, t, seed=3)


def test_normal_flat_prior_matches_frequentist_ci() -> None:
    rng = np.random.default_rng(32)
    c = MeanStats.from_values(rng.normal(10, 2, 5000))
    t = MeanStats.from_values(rng.normal(10.1, 2, 5000))
    b, f = normal_means(c, t), welch_ttest(c, t)
    assert b.ci_low == pytest.approx(f.ci_low, rel=1e-3)
    # One-sided p-value and chance to beat control are complements under a flat prior.
    assert b.chance_to_beat_control == pytest.approx(1 - f.p_value / 2, abs=1e-3)


def test_informative_prior_shrinks_towards_prior_mean() -> None:
    c = MeanStats(1000, 10_000.0, 200_000.0)
    t = MeanStats(1000, 10_500.0, 220_000.0)
    flat, tight = normal_means(c, t), normal_means(c, t, prior=NormalPrior(0.0, 0.01))
    assert 0 < tight.effect_rel < flat.effect_rel
    assert 0.5 < tight.chance_to_beat_control < flat.chance_to_beat_control
    # risk_control − risk_treatment = E[T − C]
    assert flat.risk_control - flat.risk_treatment == pytest.approx(flat.effect_abs, rel=1e-9)
