"""The ship rule: every verdict and clause, guardrails harmed / not harmed / not established."""

from __future__ import annotations

import dataclasses
import math

import pytest

from abwb.errors import InvalidInput
from abwb.stats import (
    AnalysisConfig,
    Guardrail,
    MeanStats,
    RatioStats,
    ShipRule,
    analyze,
    decide,
    guardrail_status,
    outcome,
    srm_test,
)
from abwb.stats.analysis import AnalysisTable
from abwb.stats.methods import Engine
from abwb.stats.ship_rule import VERDICTS


def _stats(*, conv_b: int = 1150, conv_c: int = 1010, latency_c: float = 2_300_000.0,
           ) -> dict[str, dict[str, MeanStats | RatioStats]]:
    return {
        "conversion": {"control": MeanStats.from_counts(1000, 10_000),
                       "b": MeanStats.from_counts(conv_b, 10_000),
                       "c": MeanStats.from_counts(conv_c, 10_000)},
        "latency_ms": {"control": MeanStats(10_000, 2_000_000.0, 4.1e8),
                       "b": MeanStats(10_000, 2_001_000.0, 4.1e8),
                       "c": MeanStats(10_000, latency_c, 5.4e8)},
        "revenue_per_session": {
            "control": RatioStats(10_000, 5000.0, 9000.0, 20_000.0, 50_000.0, 12_000.0),
            "b": RatioStats(10_000, 5100.0, 9200.0, 20_000.0, 50_000.0, 12_200.0),
            "c": RatioStats(0, 0.0, 0.0, 0.0, 0.0, 0.0)},
    }


KINDS = {"conversion": "binomial", "latency_ms": "mean", "revenue_per_session": "ratio"}
LATENCY = Guardrail("latency_ms", "decrease", max_harm_rel=0.05)


def _table(engine: Engine = "frequentist", **kwargs: float) -> AnalysisTable:
    return analyze(_stats(**kwargs), control="control", kinds=KINDS,  # type: ignore[arg-type]
                   engine=engine, config=AnalysisConfig(correction="bh"), planned_n=30_000)


def test_verdict_vocabulary_is_one_closed_set() -> None:
    assert VERDICTS == ("ship", "do_not_ship", "keep_running", "investigate")


@pytest.mark.parametrize("engine", ["frequentist", "sequential", "bayesian"])
def test_ship_the_best_treatment_that_harms_no_guardrail(engine: Engine) -> None:
    d = decide(_table(engine), ShipRule("conversion", guardrails=(LATENCY,)))
    assert (d.verdict, d.variant, d.rule) == ("ship", "b", "primary_better")
    by_t = {v.treatment: v for v in d.treatments}
    assert by_t["c"].verdict == "do_not_ship" and by_t["c"].harmed == ("latency_ms",)
    assert "latency_ms" in by_t["c"].reasons[0]


def test_do_not_ship_when_a_guardrail_is_harmed() -> None:
    d = decide(_table(conv_b=1000), ShipRule("conversion", guardrails=(LATENCY,)))
    assert (d.verdict, d.variant, d.rule) == ("do_not_ship", "c", "guardrail_harmed")


def test_tolerated_harm_is_not_harm() -> None:
    lenient = ShipRule("conversion", guardrails=(Guardrail("latency_ms", "decrease", 0.5),))
    d = decide(_table(conv_b=1000), lenient)
    assert (d.verdict, d.rule) == ("keep_running", "inconclusive")
    assert decide(_table(conv_b=1000), lenient, at_horizon=True).rule == "horizon_reached"
    assert decide(_table(conv_b=1000), lenient, at_horizon=True).verdict == "do_not_ship"


def test_do_not_ship_when_every_treatment_loses() -> None:
    d = decide(_table(conv_b=850, conv_c=850), ShipRule("conversion"))
    assert (d.verdict, d.variant, d.rule) == ("do_not_ship", None, "primary_worse")


def test_investigate_when_the_data_cannot_be_trusted() -> None:
    srm = srm_test({"control": 10_000, "b": 11_000, "c": 10_000},
                   {"control": 1, "b": 1, "c": 1})
    assert srm.alert
    d = decide(_table(), ShipRule("conversion"), untrusted=("sample ratio mismatch",))
    assert (d.verdict, d.rule) == ("investigate", "untrusted_data")
    assert {v.verdict for v in d.treatments} == {"investigate"}


def test_no_estimate_keeps_running() -> None:
    d = decide(_table(), ShipRule("revenue_per_session"))
    by_t = {v.treatment: v for v in d.treatments}
    assert by_t["c"].rule == "no_estimate" and "empty_arm" in by_t["c"].reasons[0]
    assert d.verdict == "keep_running"
    missing = decide(_table(), ShipRule("not-analysed"))  # degenerate data, not an error
    assert (missing.verdict, missing.rule) == ("keep_running", "no_estimate")


def test_nan_interval_is_not_established_never_harmed() -> None:
    r = _table().get("latency_ms", "c")
    assert guardrail_status(r, LATENCY) == "harmed"
    nan_rel = dataclasses.replace(r, ci_low_rel=math.nan, ci_high_rel=math.nan)
    assert guardrail_status(nan_rel, LATENCY) == "not_established"
    assert guardrail_status(_table().get("revenue_per_session", "c"),
                            Guardrail("revenue_per_session")) == "not_established"
    # A zero control mean: the absolute effect is significant, the relative one undefined.
    zero = analyze({"m": {"control": MeanStats(5000, 0.0, 0.0),
                          "b": MeanStats(5000, -50.0, 50.0)}},
                   control="control", kinds={"m": "mean"})
    assert zero[0].status == "zero_control_mean" and outcome(zero[0], "increase") == "worse"
    assert guardrail_status(zero[0], Guardrail("m")) == "not_established"
    d = decide(analyze({"p": {"control": MeanStats.from_counts(100, 1000),
                              "b": MeanStats.from_counts(100, 1000)},
                        "m": {"control": MeanStats(5000, 0.0, 0.0),
                              "b": MeanStats(5000, -50.0, 50.0)}},
                       control="control", kinds={"p": "binomial", "m": "mean"}),
               ShipRule("p", guardrails=(Guardrail("m"),)))
    assert d.verdict == "keep_running" and d.treatments[0].harmed == ()


def test_bayesian_outcome_reads_chance_to_win() -> None:
    r = _table("bayesian").get("conversion", "b")
    assert outcome(r, "increase") == "better" and outcome(r, "decrease") == "worse"


def test_rule_validation() -> None:
    with pytest.raises(InvalidInput, match=r"ShipRule\.guardrails\[0\]\.metric"):
        ShipRule("x", guardrails=(Guardrail("x"),))
    with pytest.raises(InvalidInput, match=r"Guardrail\.max_harm_rel"):
        Guardrail("x", max_harm_rel=-0.1)
    with pytest.raises(InvalidInput, match=r"ShipRule\.primary_direction"):
        ShipRule("x", primary_direction="up")  # type: ignore[arg-type]
