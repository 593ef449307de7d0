"""``analyze``: the registry-driven analysis of every metric × treatment, any engine."""

from __future__ import annotations

import polars as pl
import pytest

from abwb.errors import InvalidInput
from abwb.stats import (
    BayesResult,
    ComparisonResult,
    MeanStats,
    RatioStats,
    analyze,
    holm,
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


KINDS = {"conversion": "binomial", "latency_ms": "mean", "revenue_per_session": "ratio"}


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
        analyze(_stats(), control="control", kinds={"conversion": "binomial"})  # type: ignore[arg-type]
    # One vocabulary: the metric definition's kinds; the old analysis words are refused.
    with pytest.raises(InvalidInput, match=r"kinds\['conversion'\]"):
        analyze(_stats(), control="control",
                kinds={**KINDS, "conversion": "proportion"})  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="engine"):
        analyze(_stats(), control="control", kinds=KINDS, engine="magic")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="missing"):
        analyze(_stats(), control="ctrl", kinds=KINDS)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="RatioStats"):
        analyze(_stats(), control="control",
                kinds={**KINDS, "conversion": "ratio"})  # type: ignore[arg-type]


def test_every_engine_labels_and_corrects() -> None:
    seq = analyze(_stats(), control="control", kinds=KINDS, engine="sequential",  # type: ignore[arg-type]
                  planned_n=40_000)
    assert [r.method for r in seq][::2] == ["asymptotic_cs", "asymptotic_cs",
                                            "asymptotic_cs_ratio"]
    raw = [r.p_value for r in seq if isinstance(r, ComparisonResult)]
    adjusted = [r.p_value_adjusted for r in seq if isinstance(r, ComparisonResult)]
    assert adjusted == pytest.approx(holm(raw), nan_ok=True)
    bayes = analyze(_stats(), control="control", kinds=KINDS, engine="bayesian")  # type: ignore[arg-type]
    conv = bayes.get("conversion", "b")
    assert isinstance(conv, BayesResult) and conv.method == "beta_binomial"
    assert (conv.metric, conv.control, conv.treatment) == ("conversion", "control", "b")
    ratio = bayes.get("revenue_per_session", "b")  # no conjugate ratio path: fixed delta z
    assert isinstance(ratio, ComparisonResult) and ratio.method == "delta_ratio_z"


def test_cuped_is_chosen_by_the_covariate_not_by_a_kind() -> None:
    c = MeanStats(n=1000, total=1000.0, total_sq=3000.0, covariate_total=1000.0,
                  covariate_total_sq=3000.0, cross_total=2500.0, has_covariate=True)
    t = MeanStats(n=1000, total=1100.0, total_sq=3300.0, covariate_total=1000.0,
                  covariate_total_sq=3000.0, cross_total=2600.0, has_covariate=True)
    table = analyze({"spend": {"control": c, "b": t}}, control="control",
                    kinds={"spend": "sum"})
    assert table[0].method == "cuped_welch_t"
