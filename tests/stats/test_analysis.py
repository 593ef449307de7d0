"""The readout entry point and the decision rule."""

from __future__ import annotations

import math

import polars as pl
import pytest

from abwb.errors import InvalidInput
from abwb.stats import (
    AnalysisConfig,
    DecisionRule,
    Guardrail,
    MeanStats,
    RatioStats,
    analyze,
    decide,
    holm,
    srm_test,
    welch_ttest,
)


def _stats() -> dict[str, dict[str, MeanStats | RatioStats]]:
    return {
        "conversion": {"control": MeanStats.from_counts(1000, 10_000),
                       "b": MeanStats.from_counts(1150, 10_000),
                       "c": MeanStats.from_counts(1010, 10_000)},
        "latency_ms": {"control": MeanStats(10_000, 2_000_000.0, 4.1e8),
                       "b": MeanStats(10_000, 2_001_000.0, 4.1e8),
                       "c": MeanStats(10_000, 2_300_000.0, 5.4e8)},
        "revenue_per_session": {
            "control": RatioStats(10_000, 5000.0, 9000.0, 20_000.0, 50_000.0, 12_000.0),
            "b": RatioStats(10_000, 5100.0, 9200.0, 20_000.0, 50_000.0, 12_200.0),
            "c": RatioStats(0, 0.0, 0.0, 0.0, 0.0, 0.0)},
    }


KINDS = {"conversion": "proportion", "latency_ms": "mean", "revenue_per_session": "ratio"}


def test_analyze_table_shape_labels_and_correction() -> None:
    table = analyze(_stats(), control="control", kinds=KINDS)  # type: ignore[arg-type]
    assert len(table) == 6
    assert [(r.metric, r.treatment) for r in table][:2] == [("conversion", "b"),
                                                            ("conversion", "c")]
    assert table.get("revenue_per_session", "c").status == "empty_arm"
    raw = [r.p_value for r in table]
    assert [r.p_value_adjusted for r in table] == pytest.approx(holm(raw), nan_ok=True)
    direct = welch_ttest(_stats()["latency_ms"]["control"], _stats()["latency_ms"]["b"])  # type: ignore[arg-type]
    assert table.get("latency_ms", "b").p_value == direct.p_value


def test_to_polars() -> None:
    df = analyze(_stats(), control="control", kinds=KINDS).to_polars()  # type: ignore[arg-type]
    assert isinstance(df, pl.DataFrame)
    assert df.height == 6 and {"p_value", "ci_low", "effect_rel", "significant"} <= set(df.columns)


def test_analyze_validation() -> None:
    with pytest.raises(InvalidInput, match="kinds"):
        analyze(_stats(), control="control", kinds={"conversion": "proportion"})  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="missing"):
        analyze(_stats(), control="ctrl", kinds=KINDS)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="RatioStats"):
        analyze(_stats(), control="control",
                kinds={**KINDS, "conversion": "ratio"})  # type: ignore[arg-type]


def test_decisions() -> None:
    table = analyze(_stats(), control="control", kinds=KINDS,  # type: ignore[arg-type]
                    config=AnalysisConfig(correction="bh"))
    rule = DecisionRule("conversion",
                        guardrails=(Guardrail("latency_ms", "decrease", max_harm_rel=0.05),))
    by_t = {d.treatment: d for d in decide(table, rule)}
    assert by_t["b"].verdict == "ship"
    assert by_t["c"].verdict == "dont_ship"  # latency +15 % harms beyond the 5 % margin
    assert "latency_ms" in by_t["c"].reasons[0]
    lenient = DecisionRule("conversion", guardrails=(Guardrail("latency_ms", "decrease", 0.5),))
    c_verdict = {d.treatment: d for d in decide(table, lenient)}["c"]
    assert c_verdict.verdict == "keep_running"
    at_end = {d.treatment: d for d in decide(table, lenient, at_horizon=True)}["c"]
    assert at_end.verdict == "dont_ship"


def test_srm_alert_blocks_shipping() -> None:
    table = analyze(_stats(), control="control", kinds=KINDS)  # type: ignore[arg-type]
    srm = srm_test({"control": 10_000, "b": 11_000, "c": 10_000}, {"control": 1, "b": 1, "c": 1})
    assert srm.alert
    assert {d.verdict for d in decide(table, DecisionRule("conversion"), srm=srm)} == {
        "dont_ship"}


def test_degenerate_primary_keeps_running() -> None:
    table = analyze(_stats(), control="control", kinds=KINDS)  # type: ignore[arg-type]
    d = {x.treatment: x for x in decide(table, DecisionRule("revenue_per_session"))}
    assert d["c"].verdict == "keep_running" and "empty_arm" in d["c"].reasons[0]
    assert math.isnan(table.get("revenue_per_session", "c").p_value)


def test_rule_validation() -> None:
    with pytest.raises(InvalidInput):
        DecisionRule("x", guardrails=(Guardrail("x"),))
    with pytest.raises(InvalidInput, match=r"Guardrail\.max_harm_rel"):
        Guardrail("x", max_harm_rel=-0.1)
    table = analyze(_stats(), control="control", kinds=KINDS)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="not in the analysis"):
        decide(table, DecisionRule("nope"))
