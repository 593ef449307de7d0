"""The pure checks: SRM, exposure health, crossover, guardrails (direction, tolerance, ratio), significance."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from abwb.config.metric import MetricDefinition
from abwb.errors import InvalidInput
from abwb.monitoring.checks import (
    SubjectRef,
    check_crossover,
    check_exposure_health,
    check_guardrails,
    check_significance,
    check_srm,
    compare_arms,
)
from abwb.monitoring.config import MonitorConfig
from abwb.stats.config import AnalysisConfig
from abwb.stats.frequentist import ratio_ztest
from abwb.stats.sequential import confidence_sequence
from abwb.stats.summary import MeanStats, RatioStats

EXP = SubjectRef("experiment", "exp")
CFG = MonitorConfig()
T = datetime(2026, 6, 1, tzinfo=UTC)


def test_srm_fires_on_55_45_and_stays_quiet_on_a_fair_split() -> None:
    weights = {"c": 0.5, "t": 0.5}
    fired, result = check_srm(EXP, {"c": 5500, "t": 4500}, weights, config=CFG)
    assert fired is not None and fired.firing and fired.kind == "srm" and fired.severity == "critical"
    assert fired.evidence.p_value is not None and fired.evidence.p_value < CFG.srm_threshold
    assert fired.evidence.n == {"c": 5500, "t": 4500}
    assert "c 55.0% (expected 50.0%)" in fired.message
    quiet, _ = check_srm(EXP, {"c": 5020, "t": 4980}, weights, config=CFG)
    assert quiet is not None and not quiet.firing
    # The running minimum is carried: once fired, a later balanced look still reports it.
    again, _ = check_srm(EXP, {"c": 5600, "t": 5400}, weights, config=CFG, previous=result)
    assert again is not None and again.firing


def test_srm_waits_for_units_and_ignores_zero_weight_variants() -> None:
    assert check_srm(EXP, {"c": 30, "t": 10}, {"c": 0.5, "t": 0.5}, config=CFG)[0] is None
    finding, _ = check_srm(EXP, {"c": 500, "t": 500, "off": 0}, {"c": 0.5, "t": 0.5, "off": 0.0}, config=CFG)
    assert finding is not None and set(finding.evidence.n) == {"c", "t"}


def _health(**kw: object) -> dict[str, bool]:
    args: dict[str, object] = dict(now=T, watching_since=T - timedelta(hours=2), last_exposure_at=T,
                                   current_count=100, current_duration_s=60, trailing=[(100, 60)] * 5,
                                   config=CFG)
    args.update(kw)
    return {f.dedup_key.split(":")[1]: f.firing for f in check_exposure_health(EXP, **args)}  # type: ignore[arg-type]


def test_exposure_health_detects_silence_and_drops_but_not_noise() -> None:
    assert _health() == {"no_traffic": False, "drop": False}
    assert _health(current_count=85) == {"no_traffic": False, "drop": False}  # a dip, not a drop
    assert _health(current_count=10) == {"no_traffic": False, "drop": True}
    assert _health(current_count=0, last_exposure_at=T - timedelta(hours=1))["no_traffic"]
    # Never exposed: silence counts from when monitoring began.
    assert _health(last_exposure_at=None, current_count=0, trailing=[])["no_traffic"]
    # Too little trailing traffic to judge a drop: no drop finding at all.
    assert "drop" not in _health(trailing=[(2, 60)] * 5, current_count=0)


def test_crossover_rate() -> None:
    assert check_crossover(EXP, crossed=5, units=100, config=CFG) is None
    f = check_crossover(EXP, crossed=30, units=1000, config=CFG)
    assert f is not None and f.firing and f.evidence.statistic == pytest.approx(0.03)
    f = check_crossover(EXP, crossed=5, units=1000, config=CFG)
    assert f is not None and not f.firing


def _conv(key: str = "conv", **kw: object) -> MetricDefinition:
    return MetricDefinition(key=key, kind="binomial", event="buy", **kw)  # type: ignore[arg-type]


def test_guardrail_is_one_sided_in_the_harmful_direction() -> None:
    worse = {"conv": {"c": MeanStats.from_counts(2000, 10_000), "t": MeanStats.from_counts(1700, 10_000)}}
    better = {"conv": {"c": MeanStats.from_counts(1700, 10_000), "t": MeanStats.from_counts(2000, 10_000)}}
    up = [_conv()]
    down = [_conv(direction="decrease")]
    fire = lambda m, s: [f.firing for f in check_guardrails(EXP, m, s, control="c", treatments=["t"], config=CFG)]  # noqa: E731
    assert fire(up, worse) == [True]
    assert fire(up, better) == [False]
    assert fire(down, better) == [True]   # lower is better: a rise is harm
    assert fire(down, worse) == [False]
    f = check_guardrails(EXP, up, worse, control="c", treatments=["t"], config=CFG)[0]
    assert f.dedup_key == "guardrail:exp:conv:t" and f.metric == "conv" and f.variant == "t"
    assert f.evidence.effect_rel == pytest.approx(-0.15)
    assert f.evidence.ci_high_rel is not None and f.evidence.ci_high_rel < 0
    assert f.evidence.n == {"c": 10_000, "t": 10_000}


def test_guardrail_tolerance_and_bonferroni_split() -> None:
    stats = {"conv": {"c": MeanStats.from_counts(2000, 10_000), "t": MeanStats.from_counts(1700, 10_000)}}
    # -15 % with a 20 % tolerance is not a breach.
    tolerant = [_conv(guardrail_max_harm_rel=0.2)]
    assert [f.firing for f in check_guardrails(EXP, tolerant, stats, control="c", treatments=["t"], config=CFG)] == [False]
    # The alpha is split over guardrails x treatments.
    many = [_conv(f"g{i}") for i in range(4)]
    stats4 = {f"g{i}": stats["conv"] for i in range(4)}
    findings = check_guardrails(EXP, many, stats4, control="c", treatments=["t"], config=CFG)
    assert {f.evidence.threshold for f in findings} == {CFG.alpha_guardrail / 4}


def test_guardrail_p_value_matches_the_stats_confidence_sequence() -> None:
    c, t = MeanStats.from_counts(2000, 10_000), MeanStats.from_counts(1850, 10_000)
    f = check_guardrails(EXP, [_conv()], {"conv": {"c": c, "t": t}}, control="c", treatments=["t"], config=CFG)[0]
    ref = confidence_sequence(c, t, planned_n=CFG.planned_n,
                              config=AnalysisConfig(alpha=CFG.alpha_guardrail, alternative="less"))
    assert f.evidence.p_value == pytest.approx(ref.p_value)


def test_checks_wait_for_enough_units() -> None:
    stats = {"conv": {"c": MeanStats.from_counts(5, 50), "t": MeanStats.from_counts(0, 50)}}
    assert check_guardrails(EXP, [_conv()], stats, control="c", treatments=["t"], config=CFG) == []
    assert check_significance(EXP, [_conv()], stats, control="c", treatments=["t"], config=CFG) == []


def test_ratio_guardrail_uses_the_delta_method_with_the_mixture_boundary() -> None:
    c = RatioStats(n=5000, num_total=10_000.0, num_total_sq=30_000.0, den_total=5000.0,
                   den_total_sq=6000.0, num_den_total=11_000.0)
    t = RatioStats(n=5000, num_total=8_000.0, num_total_sq=20_000.0, den_total=5000.0,
                   den_total_sq=6000.0, num_den_total=8_500.0)
    ratio = MetricDefinition(key="rpc", kind="ratio", numerator_event="buy", denominator_event="click")
    r = compare_arms(ratio, c, t, config=MonitorConfig(planned_n=10_000), alpha=0.05,
                     alternative="less")
    fixed = ratio_ztest(c, t)
    assert r.method == "asymptotic_cs_ratio" and r.effect_abs == pytest.approx(fixed.effect_abs)
    assert r.ci_low == -math.inf and r.ci_high > fixed.ci_high  # wider than the fixed-horizon CI
    assert r.p_value < 0.05  # type: ignore[union-attr]
    f = check_guardrails(EXP, [ratio], {"rpc": {"c": c, "t": t}}, control="c", treatments=["t"], config=CFG)
    assert [x.firing for x in f] == [True]
    with pytest.raises(InvalidInput, match="needs RatioStats"):
        compare_arms(ratio, MeanStats.from_counts(1, 10), t, config=CFG, alpha=0.05)


def test_significance_is_two_sided_info() -> None:
    stats = {"conv": {"c": MeanStats.from_counts(2000, 10_000), "t": MeanStats.from_counts(2300, 10_000)}}
    (f,) = check_significance(EXP, [_conv()], stats, control="c", treatments=["t"], config=CFG)
    assert f.firing and f.kind == "significance" and f.severity == "info"
    assert "+15.00%" in f.message


def test_monitor_config_names_every_bad_field() -> None:
    with pytest.raises(InvalidInput) as info:
        MonitorConfig(alpha_guardrail=1.5, planned_n=0, pause_on_srm="yes", lateness_s=-1)  # type: ignore[arg-type]
    paths = [p.path for p in info.value.problems]
    assert paths == ["MonitorConfig.alpha_guardrail", "MonitorConfig.planned_n",
                     "MonitorConfig.pause_on_srm", "MonitorConfig.lateness_s"]


def test_guardrail_decisions_are_final_running_minimum_p() -> None:
    weak = {"conv": {"c": MeanStats.from_counts(2000, 10_000), "t": MeanStats.from_counts(1960, 10_000)}}
    (f,) = check_guardrails(EXP, [_conv()], weak, control="c", treatments=["t"], config=CFG)
    assert not f.firing
    (g,) = check_guardrails(EXP, [_conv()], weak, control="c", treatments=["t"], config=CFG,
                            previous_p={"guardrail:exp:conv:t": 1e-4})
    assert g.firing and g.evidence.p_value == 1e-4
