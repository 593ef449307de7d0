"""Degenerate data returns statuses + NaN; programmer mistakes raise InvalidInput naming the field."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from abwb.errors import InvalidInput
from abwb.stats import (
    AnalysisConfig,
    MeanStats,
    RatioStats,
    beta_binomial,
    confidence_sequence,
    cuped_ttest,
    group_sequential_design,
    mde,
    normal_means,
    proportions_ztest,
    ratio_ztest,
    sample_size,
    srm_test,
    welch_ttest,
)

EMPTY = MeanStats(0, 0.0, 0.0)
ONE = MeanStats.from_values([1.0])
CONST = MeanStats.from_values([2.0, 2.0, 2.0])
OK = MeanStats.from_values([1.0, 2.0, 4.0])


@pytest.mark.parametrize(("control", "treatment", "status"), [
    (EMPTY, OK, "empty_arm"), (OK, EMPTY, "empty_arm"), (ONE, OK, "insufficient_n"),
    (CONST, CONST, "zero_variance"),
])
def test_welch_degenerate(control: MeanStats, treatment: MeanStats, status: str) -> None:
    r = welch_ttest(control, treatment)
    assert r.status == status
    assert math.isnan(r.p_value) and math.isnan(r.ci_low) and math.isnan(r.effect_rel)
    assert not r.significant


def test_zero_control_mean_keeps_absolute_effect() -> None:
    r = welch_ttest(MeanStats.from_values([-1.0, 1.0]), MeanStats.from_values([0.0, 2.0]))
    assert r.status == "zero_control_mean"
    assert r.effect_abs == 1.0 and math.isnan(r.effect_rel)


@pytest.mark.parametrize(("fn", "c", "t", "status"), [
    (proportions_ztest, MeanStats.from_counts(0, 0), MeanStats.from_counts(3, 10), "empty_arm"),
    (proportions_ztest, MeanStats.from_counts(0, 10), MeanStats.from_counts(0, 10),
     "zero_variance"),
    (beta_binomial, MeanStats.from_counts(0, 0), MeanStats.from_counts(3, 10), "empty_arm"),
    (normal_means, EMPTY, OK, "empty_arm"),
    (normal_means, CONST, CONST, "zero_variance"),
    (normal_means, ONE, OK, "insufficient_n"),
])
def test_other_methods_degenerate(fn: Callable[..., object], c: MeanStats, t: MeanStats,
                                  status: str) -> None:
    assert fn(c, t).status == status


def test_ratio_degenerate() -> None:
    zero_den = RatioStats(3, 1.0, 1.0, 0.0, 0.0, 0.0)
    good = RatioStats.from_values([1.0, 2.0, 3.0], [1.0, 1.0, 2.0])
    assert ratio_ztest(zero_den, good).status == "zero_denominator"
    assert ratio_ztest(RatioStats(0, 0, 0, 0, 0, 0), good).status == "empty_arm"


def test_cuped_degenerate_and_missing_covariate() -> None:
    with_x = MeanStats.from_values([1.0, 2.0, 3.0], x=[1.0, 1.0, 1.0])  # Var(x) = 0 → θ = 0
    r = cuped_ttest(with_x, MeanStats.from_values([2.0, 3.0, 5.0], x=[1.0, 1.0, 1.0]))
    assert r.status == "ok" and r.variance_reduction == pytest.approx(0.0)
    assert cuped_ttest(MeanStats(0, 0.0, 0.0, has_covariate=True), with_x).status == "empty_arm"
    with pytest.raises(InvalidInput, match=r"control\.has_covariate"):
        cuped_ttest(OK, with_x)


def test_srm_empty_counts() -> None:
    assert srm_test({"a": 0, "b": 0}, {"a": 1, "b": 1}).status == "empty_arm"


def test_sequential_empty_arm() -> None:
    assert confidence_sequence(EMPTY, OK, planned_n=10).status == "empty_arm"


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, 1.5, math.nan])
def test_alpha_outside_unit_interval_raises(alpha: float) -> None:
    with pytest.raises(InvalidInput, match=r"AnalysisConfig\.alpha"):
        AnalysisConfig(alpha=alpha)


@pytest.mark.parametrize(("call", "field"), [
    (lambda: AnalysisConfig(alternative="bigger"), "AnalysisConfig.alternative"),  # type: ignore[arg-type]
    (lambda: AnalysisConfig(correction="bonferroni"), "AnalysisConfig.correction"),  # type: ignore[arg-type]
    (lambda: proportions_ztest(OK, OK), "control.total_sq"),
    (lambda: welch_ttest(OK, RatioStats(1, 1, 1, 1, 1, 1)), "treatment"),  # type: ignore[arg-type]
    (lambda: sample_size(effect_abs=0.0, var=1.0), "effect_abs"),
    (lambda: sample_size(effect_abs=0.1, var=-1.0), "var"),
    (lambda: sample_size(effect_abs=0.1, var=1.0, variance_reduction=1.0), "variance_reduction"),
    (lambda: mde(var=1.0, n_control=0), "n_control"),
    (lambda: srm_test({"a": -1, "b": 3}, {"a": 1, "b": 1}), "counts['a']"),
    (lambda: srm_test({"a": 1, "b": 3}, {"a": 0, "b": 1}), "weights['a']"),
    (lambda: group_sequential_design([0.5, 0.4]), "information_fractions"),
    (lambda: confidence_sequence(OK, OK, planned_n=0), "planned_n"),
    (lambda: MeanStats.from_counts(11, 10), "conversions"),
])
def test_bad_inputs_raise_naming_the_field(call: Callable[[], object], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        call()
    assert any(p.path == field for p in info.value.problems), info.value.problems


# ---------------------------------------------------------------- issue 15: all-zero arm, small samples

def test_relative_interval_is_undefined_when_its_delta_variance_vanishes() -> None:
    from abwb.stats import MeanStats
    from abwb.stats.frequentist import proportions_ztest, welch_ttest
    from abwb.stats.sequential import confidence_sequence

    c, t = MeanStats.from_counts(4, 30), MeanStats.from_counts(0, 30)
    for r in (proportions_ztest(c, t), welch_ttest(c, t),
              confidence_sequence(c, t, planned_n=100)):
        assert r.status == "ok", r.method  # the absolute effect is valid ...
        assert r.ci_low < r.effect_abs < r.ci_high and math.isfinite(r.ci_high)
        assert r.effect_rel == -1.0  # ... the point estimate too, but not its interval
        assert math.isnan(r.se_rel) and math.isnan(r.ci_low_rel) and math.isnan(r.ci_high_rel)
        assert r.rel_reason == "degenerate", r.method


def test_one_sided_sequential_keeps_degenerate_relative_interval_undefined() -> None:
    from abwb.stats import AnalysisConfig, MeanStats
    from abwb.stats.sequential import confidence_sequence

    c, t = MeanStats.from_counts(4, 30), MeanStats.from_counts(0, 30)
    r = confidence_sequence(c, t, planned_n=100, config=AnalysisConfig(alternative="less"))
    assert math.isnan(r.ci_low_rel) and math.isnan(r.ci_high_rel)
    assert r.ci_low == -math.inf and math.isfinite(r.ci_high)


def test_ordinary_relative_interval_has_no_reason() -> None:
    from abwb.stats import MeanStats
    from abwb.stats.frequentist import proportions_ztest

    r = proportions_ztest(MeanStats.from_counts(100, 1000), MeanStats.from_counts(130, 1000))
    assert r.rel_reason == "" and r.method == "two_proportion_z"
    assert r.ci_low_rel < r.effect_rel < r.ci_high_rel


def test_small_sample_proportions_get_fishers_exact_p_value() -> None:
    from scipy import stats

    from abwb.stats import AnalysisConfig, MeanStats
    from abwb.stats.frequentist import is_small_sample, proportions_ztest

    c, t = MeanStats.from_counts(4, 30), MeanStats.from_counts(0, 30)
    assert is_small_sample(c, t)
    r = proportions_ztest(c, t)
    assert r.method == "fisher_exact" and r.status == "ok"
    assert r.p_value == pytest.approx(stats.fisher_exact([[0, 30], [4, 26]]).pvalue, rel=1e-12)
    assert r.p_value == pytest.approx(0.1124, abs=1e-4)  # the z-test said 0.038
    assert not r.significant
    one = proportions_ztest(c, t, config=AnalysisConfig(alternative="less"))
    assert one.p_value == pytest.approx(
        stats.fisher_exact([[0, 30], [4, 26]], alternative="less").pvalue, rel=1e-12)


@pytest.mark.parametrize(("kc", "nc", "kt", "nt", "small"), [
    (10, 29, 12, 40, True),     # an arm below n = 30
    (3, 200, 4, 200, True),     # expected conversions 3.5 < 5
    (197, 200, 196, 200, True),  # expected non-conversions 3.5 < 5
    (10, 100, 12, 100, False),  # expected 11, n = 100
])
def test_small_sample_rule(kc: int, nc: int, kt: int, nt: int, small: bool) -> None:
    from abwb.stats import MeanStats
    from abwb.stats.frequentist import is_small_sample, proportions_ztest

    c, t = MeanStats.from_counts(kc, nc), MeanStats.from_counts(kt, nt)
    assert is_small_sample(c, t) is small
    assert proportions_ztest(c, t).method == ("fisher_exact" if small else "two_proportion_z")


def test_bayesian_normal_approx_relative_interval_is_undefined_on_an_all_zero_arm() -> None:
    from abwb.stats import MeanStats
    from abwb.stats.bayesian import normal_means

    r = normal_means(MeanStats.from_counts(4, 30), MeanStats.from_counts(0, 30))
    assert r.status == "ok" and r.ci_high < 0  # the absolute interval stands
    assert math.isnan(r.ci_low_rel) and math.isnan(r.ci_high_rel)
