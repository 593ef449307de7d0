"""Always-valid inference, group-sequential boundaries and sequential SRM, by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from abwb.stats import (
    AnalysisConfig,
    MeanStats,
    always_valid_p_value,
    confidence_sequence,
    cs_radius_multiplier,
    group_sequential_design,
    sequential_srm_p_values,
    sequential_srm_test,
    welch_ttest,
)

ALPHA = 0.05
N_EXP, LOOKS, BATCH = 2000, 25, 80  # 25 looks of 80 units per arm → 2,000 per arm
PLANNED_N = 2 * LOOKS * BATCH


def _cumulative_z(effect: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Welch z at every look of every experiment, from cumulative sufficient statistics."""
    rng = np.random.default_rng(seed)
    y_c = rng.normal(0.0, 1.0, (N_EXP, LOOKS, BATCH))
    y_t = rng.normal(effect, 1.0, (N_EXP, LOOKS, BATCH))
    n = BATCH * np.arange(1, LOOKS + 1)

    def moments(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s, ss = y.sum(2).cumsum(1), (y * y).sum(2).cumsum(1)
        mean = s / n
        return mean, (ss - n * mean * mean) / (n - 1)

    (mc, vc), (mt, vt) = moments(y_c), moments(y_t)
    se = np.sqrt(vc / n + vt / n)
    return (mt - mc) / se, 2 * n, np.stack([mc, vc, mt, vt], -1)


@pytest.fixture(scope="module")
def aa() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _cumulative_z(0.0, 21)


def test_naive_peeking_inflates_fpr_and_sequential_does_not(
    aa: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    z, n, _ = aa
    naive = float((np.abs(z) > 1.959964).any(1).mean())
    p_seq = np.minimum.accumulate(always_valid_p_value(z, n, PLANNED_N, ALPHA), axis=1)
    seq = float((p_seq[:, -1] < ALPHA).mean())
    fixed = float((np.abs(z[:, -1]) > 1.959964).mean())
    print(f"A/A with {LOOKS} looks: naive FPR = {naive:.4f}, sequential FPR = {seq:.4f}, "
          f"fixed-horizon FPR = {fixed:.4f}")
    assert naive > 0.10
    assert seq <= ALPHA
    assert 0.035 <= fixed <= 0.065


def test_sequential_power_vs_fixed_horizon() -> None:
    # Effect sized for 80 % power of the fixed-horizon two-sided z-test at 2,000 per arm.
    effect = (1.959964 + 0.841621) * math.sqrt(2 / (LOOKS * BATCH))
    z, n, _ = _cumulative_z(effect, 22)
    fixed = float((np.abs(z[:, -1]) > 1.959964).mean())
    p_seq = np.minimum.accumulate(always_valid_p_value(z, n, PLANNED_N, ALPHA), axis=1)
    rejected = p_seq < ALPHA
    seq = float(rejected[:, -1].mean())
    first = np.where(rejected.any(1), rejected.argmax(1) + 1, LOOKS)
    print(f"power: fixed-horizon = {fixed:.4f}, sequential (any look) = {seq:.4f}, "
          f"mean looks used = {first.mean():.1f}/{LOOKS}")
    assert 0.76 <= fixed <= 0.84
    # An always-valid test pays for unlimited peeking: ~50 % vs 80 % here.
    assert 0.40 <= seq < fixed


def test_confidence_sequence_scalar_matches_vectorised(
    aa: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    z, n, m = aa
    nk = BATCH * 5
    mc, vc, mt, vt = m[0, 4]
    c = MeanStats(nk, mc * nk, vc * (nk - 1) + nk * mc * mc)
    t = MeanStats(nk, mt * nk, vt * (nk - 1) + nk * mt * mt)
    r = confidence_sequence(c, t, planned_n=PLANNED_N)
    assert r.statistic == pytest.approx(z[0, 4], rel=1e-9)
    assert r.p_value == pytest.approx(float(always_valid_p_value(z[0, 4], n[4], PLANNED_N,
                                                                 ALPHA)), rel=1e-9)
    half = float(cs_radius_multiplier(n[4], PLANNED_N, ALPHA)) * r.se
    assert (r.ci_low, r.ci_high) == pytest.approx((r.effect_abs - half, r.effect_abs + half))


def test_confidence_sequence_is_wider_than_fixed_ci_and_running_intersection() -> None:
    c1, t1 = MeanStats(1000, 1000.0, 3000.0), MeanStats(1000, 1080.0, 3200.0)
    fixed = welch_ttest(c1, t1)
    first = confidence_sequence(c1, t1, planned_n=4000)
    assert first.ci_low < fixed.ci_low and first.ci_high > fixed.ci_high
    c2, t2 = c1 + MeanStats(1000, 990.0, 2950.0), t1 + MeanStats(1000, 1000.0, 3000.0)
    second = confidence_sequence(c2, t2, planned_n=4000, previous=first)
    assert second.ci_low >= first.ci_low and second.ci_high <= first.ci_high
    assert second.p_value <= first.p_value


def test_confidence_sequence_degenerate_and_one_sided() -> None:
    empty = confidence_sequence(MeanStats(0, 0.0, 0.0), MeanStats(5, 5.0, 6.0), planned_n=100)
    assert empty.status == "empty_arm" and math.isnan(empty.p_value)
    cfg = AnalysisConfig(alternative="greater")
    r = confidence_sequence(MeanStats(500, 600.0, 1500.0), MeanStats(500, 500.0, 1300.0),
                            planned_n=1000, config=cfg)
    assert r.p_value == 1.0 and r.ci_high == math.inf


# --- group sequential ---------------------------------------------------------------

# Lan–DeMets, 5 equally spaced looks, two-sided α = 0.05 (gsDesign sfLDOF / sfLDPocock,
# test.type = 2; Jennison & Turnbull 2000, ch. 7).
PUBLISHED = {
    "obrien_fleming": [4.8769, 3.3569, 2.6803, 2.2898, 2.0310],
    "pocock": [2.4380, 2.4268, 2.4102, 2.3966, 2.3860],
}


@pytest.mark.parametrize("spending", ["obrien_fleming", "pocock"])
def test_group_sequential_boundaries_match_published(spending: str) -> None:
    d = group_sequential_design([0.2, 0.4, 0.6, 0.8, 1.0], alpha=0.05,
                                spending=spending)  # type: ignore[arg-type]
    assert list(d.boundaries) == pytest.approx(PUBLISHED[spending], abs=2e-4)
    assert d.cumulative_alpha[-1] == pytest.approx(0.05, rel=1e-12)


def test_one_sided_design_equals_half_of_two_sided() -> None:
    two = group_sequential_design([0.25, 0.5, 0.75, 1.0], alpha=0.05)
    one = group_sequential_design([0.25, 0.5, 0.75, 1.0], alpha=0.025, alternative="greater")
    assert list(one.boundaries) == pytest.approx(list(two.boundaries), abs=1e-6)


@pytest.mark.parametrize("spending", ["obrien_fleming", "pocock"])
def test_group_sequential_monte_carlo_type_i_error(spending: str) -> None:
    t = np.array([0.1, 0.3, 0.45, 0.7, 1.0])  # unequal spacing
    d = group_sequential_design(t, spending=spending)  # type: ignore[arg-type]
    rng = np.random.default_rng(23)
    steps = rng.normal(0, 1, (200_000, t.size)) * np.sqrt(np.diff(np.r_[0, t]))
    z = steps.cumsum(1) / np.sqrt(t)
    rate = float((np.abs(z) >= np.array(d.boundaries)).any(1).mean())
    assert rate == pytest.approx(0.05, abs=0.0025)
    assert d.test(float(d.boundaries[2]) + 0.01, look=3).reject


# --- sequential SRM ------------------------------------------------------------------

def test_sequential_srm_quiet_on_correct_split() -> None:
    rng = np.random.default_rng(24)
    looks = 50
    counts = rng.binomial(200, 0.5, (1000, looks)).cumsum(1)  # up to 10,000 units
    x = np.stack([counts, 200 * np.arange(1, looks + 1) - counts], -1)
    p = sequential_srm_p_values(x, [1, 1])
    fpr = float((p[:, -1] < 0.05).mean())
    print(f"sequential SRM A/A FPR at alpha 0.05 over {looks} looks = {fpr:.4f}")
    assert fpr <= 0.05


def test_sequential_srm_fires_on_55_45() -> None:
    rng = np.random.default_rng(25)
    looks = 50
    counts = rng.binomial(200, 0.55, (300, looks)).cumsum(1)
    x = np.stack([counts, 200 * np.arange(1, looks + 1) - counts], -1)
    p = sequential_srm_p_values(x, [1, 1])
    detected = p[:, -1] < 0.001
    first = (p < 0.001).argmax(1)[detected] + 1
    print(f"sequential SRM on 55/45: detected {detected.mean():.3f}, "
          f"median units at alert = {np.median(first) * 200:.0f}")
    assert detected.mean() >= 0.99


def test_sequential_srm_scalar_api_and_running_min() -> None:
    w = {"a": 1.0, "b": 1.0}
    first = sequential_srm_test({"a": 550, "b": 450}, w)
    later = sequential_srm_test({"a": 5020, "b": 4980}, w, previous=first)
    assert later.p_value == first.p_value  # the running minimum is kept
    ref = sequential_srm_p_values([[550, 450]], [1, 1])
    assert first.p_value == pytest.approx(float(ref[0]), rel=1e-12)
