"""One-call frame analysis: the registry's numbers, scipy where it overlaps, clear errors."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
from scipy import stats as sps

from abwb.analysis import (
    AnalysisResult,
    Mean,
    MetricSpec,
    Proportion,
    Ratio,
    analyze_frame,
    frame_statistics,
)
from abwb.errors import InvalidInput
from abwb.readout import plot_forest
from abwb.stats.analysis import analyze
from abwb.stats.bayesian import BayesResult
from abwb.stats.config import AnalysisConfig
from abwb.stats.frequentist import proportions_ztest, welch_ttest
from abwb.stats.methods import ENGINES, Engine, MethodOptions, compare
from abwb.stats.results import ComparisonResult
from abwb.stats.summary import MeanStats, RatioStats

METRICS: dict[str, MetricSpec] = {
    "conversion": Proportion("converted"),
    "orders": Mean("orders"),
    "orders (CUPED)": Mean("orders", covariate="orders_before"),
    "revenue per order": Ratio("revenue", "orders"),
    "load time": Mean("load_ms", direction="decrease"),
}
KINDS = {"conversion": "binomial", "orders": "mean", "orders (CUPED)": "mean",
         "revenue per order": "ratio", "load time": "mean"}


def _users(seed: int = 3, n: int = 6000) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    variant = rng.choice(["control", "b", "c"], size=n)
    before = rng.gamma(2.0, 1.0, n)
    orders = rng.poisson(0.8 + 0.4 * before + 0.15 * (variant == "b"))
    return pl.DataFrame({
        "variant": variant,
        "orders_before": before,
        "orders": orders,
        "converted": (orders > 0),
        "revenue": orders * rng.gamma(3.0, 10.0, n),
        "load_ms": rng.normal(300.0, 40.0, n) + 8.0 * (variant == "c"),
    })


USERS = _users()


def _arm(frame: pl.DataFrame, name: str, column: str) -> np.ndarray:
    return frame.filter(pl.col("variant") == name)[column].cast(pl.Float64).to_numpy()


def test_statistics_are_the_summary_objects_of_each_arm() -> None:
    stats = frame_statistics(USERS, METRICS)
    for arm in ("control", "b", "c"):
        y, x = _arm(USERS, arm, "orders"), _arm(USERS, arm, "orders_before")
        got = stats["orders (CUPED)"][arm]
        want = MeanStats.from_values(y, x=x)
        assert isinstance(got, MeanStats) and got.has_covariate
        for name in ("total", "total_sq", "covariate_total", "covariate_total_sq",
                     "cross_total"):
            assert getattr(got, name) == pytest.approx(getattr(want, name), rel=1e-12)
        assert got.n == want.n
        ratio = stats["revenue per order"][arm]
        assert isinstance(ratio, RatioStats)
        assert ratio.ratio == pytest.approx(
            RatioStats.from_values(_arm(USERS, arm, "revenue"), y).ratio, rel=1e-12)
    # Statistics pool exactly: two halves of the frame add up to the whole.
    halves = [frame_statistics(part, METRICS) for part in (USERS[:2500], USERS[2500:])]
    first, second = halves[0]["orders (CUPED)"]["b"], halves[1]["orders (CUPED)"]["b"]
    whole = stats["orders (CUPED)"]["b"]
    assert isinstance(first, MeanStats) and isinstance(second, MeanStats)
    assert isinstance(whole, MeanStats)
    pooled = first + second
    assert pooled.n == whole.n
    assert pooled.cross_total == pytest.approx(whole.cross_total)


@pytest.mark.parametrize("engine", ENGINES)
def test_every_number_is_the_registrys(engine: Engine) -> None:
    result = analyze_frame(USERS, METRICS, engine=engine)
    stats = frame_statistics(USERS, METRICS)
    config = AnalysisConfig()
    table = analyze({m: {"control": s["control"], "b": s["b"], "c": s["c"]}
                     for m, s in stats.items()},
                    control="control", kinds=KINDS, engine=engine)  # type: ignore[arg-type]
    assert len(result.table) == len(table) == 2 * len(METRICS)
    for expected in table:
        got = result.get(expected.metric, expected.treatment)
        assert type(got) is type(expected) and got.method == expected.method
        for name in ("effect_abs", "effect_rel", "ci_low_rel", "ci_high_rel"):
            assert getattr(got, name) == pytest.approx(getattr(expected, name), rel=1e-9,
                                                       nan_ok=True)
        direct = compare(stats[expected.metric]["control"], stats[expected.metric][
            expected.treatment], kind=KINDS[expected.metric], engine=engine,  # type: ignore[arg-type]
            options=MethodOptions(config=config))
        assert got.method == direct.method
        if isinstance(got, ComparisonResult):
            assert isinstance(direct, ComparisonResult)
            assert got.p_value == pytest.approx(direct.p_value, rel=1e-9)
            assert got.p_value_adjusted >= got.p_value
        else:
            assert isinstance(direct, BayesResult)
            assert got.chance_to_beat_control == pytest.approx(direct.chance_to_beat_control,
                                                               abs=0.01)
    methods = {(r.metric, r.method) for r in result.table}
    expected_cuped = {"frequentist": "cuped_welch_t", "sequential": "asymptotic_cs_cuped",
                      "bayesian": "normal_approx"}[engine]
    assert ("orders (CUPED)", expected_cuped) in methods


def test_frequentist_agrees_with_scipy_and_the_direct_tests() -> None:
    result = analyze_frame(USERS, METRICS, config=AnalysisConfig(correction="none"))
    c, b = _arm(USERS, "control", "orders"), _arm(USERS, "b", "orders")
    welch = sps.ttest_ind(b, c, equal_var=False)
    r = result.get("orders", "b")
    assert isinstance(r, ComparisonResult) and r.method == "welch_t"
    assert r.p_value == pytest.approx(welch.pvalue, rel=1e-9)
    assert r.statistic == pytest.approx(welch.statistic, rel=1e-9)
    ci = welch.confidence_interval(0.95)
    assert r.ci_low == pytest.approx(ci.low, rel=1e-9)
    assert r.ci_high == pytest.approx(ci.high, rel=1e-9)
    assert r.p_value == pytest.approx(
        welch_ttest(MeanStats.from_values(c), MeanStats.from_values(b)).p_value, rel=1e-12)
    # The pooled two-proportion z-test is the chi-square test without continuity correction.
    cc, cb = _arm(USERS, "control", "converted"), _arm(USERS, "b", "converted")
    table = [[cb.sum(), cb.size - cb.sum()], [cc.sum(), cc.size - cc.sum()]]
    chi2 = sps.chi2_contingency(table, correction=False)
    z = result.get("conversion", "b")
    assert isinstance(z, ComparisonResult)
    assert z.p_value == pytest.approx(chi2.pvalue, rel=1e-9)
    direct = proportions_ztest(MeanStats.from_counts(int(cc.sum()), cc.size),
                               MeanStats.from_counts(int(cb.sum()), cb.size))
    assert z.effect_rel == pytest.approx(direct.effect_rel, rel=1e-12)


def test_holm_runs_over_the_whole_family() -> None:
    result = analyze_frame(USERS, METRICS)
    raw = sorted(r.p_value for r in result.table if isinstance(r, ComparisonResult))
    smallest = min(result.table, key=lambda r: r.p_value)  # type: ignore[union-attr]
    assert isinstance(smallest, ComparisonResult)
    assert smallest.p_value_adjusted == pytest.approx(min(1.0, raw[0] * len(raw)))


def test_concise_frame_and_evidence_per_engine() -> None:
    frequentist = analyze_frame(USERS, METRICS).to_polars()
    assert frequentist.columns == ["metric", "variant", "effect_abs", "effect_rel",
                                   "ci_low_rel", "ci_high_rel", "p_value_adjusted", "method",
                                   "status", "outcome"]
    bayes = analyze_frame(USERS, METRICS, engine="bayesian")
    frame = bayes.to_polars()
    assert "chance_to_win" in frame.columns
    conv = frame.filter((pl.col("metric") == "conversion") & (pl.col("variant") == "b")).row(
        0, named=True)
    assert 0.0 <= conv["chance_to_win"] <= 1.0
    # A "decrease is good" metric: chance to win is the chance of being lower.
    load = bayes.get("load time", "c")
    assert isinstance(load, BayesResult)
    row = frame.filter((pl.col("metric") == "load time") & (pl.col("variant") == "c")).row(
        0, named=True)
    assert row["chance_to_win"] == pytest.approx(1.0 - load.chance_to_beat_control)
    assert row["outcome"] == "worse"  # c is 8 ms slower
    assert bayes.to_polars("full").width == 23


def test_renders_as_html_text_and_a_forest_plot() -> None:
    result = analyze_frame(USERS, METRICS, engine="bayesian")
    html = result._repr_html_()
    assert "<table" in html and "chance to win" in html and "credible interval" in html
    assert "abwb-scroll" in html  # wide tables scroll rather than clip
    text = str(result).splitlines()
    assert text[0].startswith("bayesian analysis, alpha = 0.05")
    header, first = text[1], text[2]
    assert header.index("| variant") == first.index("| ")  # aligned columns
    assert "CUPED" not in str(analyze_frame(USERS, {"o": Mean("orders")}))
    fig = result.plot()
    assert len(fig.axes[0].get_yticklabels()) == 2 * len(METRICS)


def test_plot_forest_takes_the_table_analyze_returns() -> None:
    """Regression: ``plot_forest(table)`` raised AttributeError ('tuple' has no iter_rows)."""
    table = analyze({"cr": {"control": MeanStats.from_counts(100, 1000),
                            "b": MeanStats.from_counts(140, 1000)}},
                    control="control", kinds={"cr": "binomial"})
    fig = plot_forest(table)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["cr · b"]
    assert isinstance(AnalysisResult(table).to_polars()["outcome"][0], str)


@pytest.mark.parametrize(("frame", "metrics", "kwargs", "path", "message"), [
    (USERS, {"x": Mean("missing")}, {}, "metrics['x'].column", "no column 'missing'"),
    (USERS.with_columns(pl.lit("a").alias("s")), {"x": Mean("s")}, {},
     "metrics['x'].column", "must be numeric"),
    (USERS.with_columns(pl.when(pl.col("orders") > 3).then(None).otherwise(pl.col("orders"))
                        .alias("orders")), {"x": Mean("orders")}, {},
     "metrics['x'].column", "null value"),
    (USERS, {"x": Proportion("orders")}, {}, "metrics['x'].column", "only 0/1"),
    (USERS, {"x": Ratio("revenue", "nope")}, {}, "metrics['x'].denominator", "no column 'nope'"),
    (USERS, {"x": Mean("orders")}, {"control": "ctrl"}, "control", "variants are ['b', 'c'"),
    (USERS, {"x": Mean("orders")}, {"variant": "arm"}, "variant", "no column 'arm'"),
    (USERS, {"x": Mean("orders")}, {"engine": "magic"}, "engine", "expected one of"),
    (USERS.with_columns(pl.when(pl.col("orders") > 5).then(None).otherwise(pl.col("variant"))
                        .alias("variant")), {"x": Mean("orders")}, {}, "variant",
     "without a variant"),
    (USERS, {}, {}, "metrics", "at least one metric"),
    (USERS.filter(pl.col("variant") == "control"), {"x": Mean("orders")}, {}, "variant",
     "at least one treatment"),
])
def test_bad_input_names_the_field(frame: pl.DataFrame, metrics: dict[str, MetricSpec],
                                   kwargs: dict[str, object], path: str, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        analyze_frame(frame, metrics, **kwargs)  # type: ignore[arg-type]
    assert path in {p.path for p in info.value.problems}
    assert message in str(info.value)


def test_declarations_validate_themselves() -> None:
    with pytest.raises(InvalidInput, match=r"Mean\.direction"):
        Mean("x", direction="up")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=r"Ratio\.denominator"):
        Ratio("x", "")


def test_degenerate_arms_give_a_status_not_an_exception() -> None:
    frame = pl.DataFrame({"variant": ["control", "control", "b"], "y": [1.0, 1.0, 1.0]})
    result = analyze_frame(frame, {"y": Mean("y")})
    row = result.to_polars().row(0, named=True)
    assert row["status"] == "insufficient_n" and math.isnan(row["effect_rel"])
    assert "insufficient n" in str(result)


def test_lazy_frames_are_accepted() -> None:
    eager = analyze_frame(USERS, {"o": Mean("orders")}).to_polars()
    lazy = analyze_frame(USERS.lazy(), {"o": Mean("orders")}).to_polars()
    assert eager.equals(lazy)


def test_import_abwb_does_not_load_the_analysis_package() -> None:
    code = ("import sys, abwb, abwb.stats; "
            "print(','.join(m for m in ('abwb.analysis', 'polars', 'duckdb') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "abwb.analysis" not in out.stdout


def test_readme_example_prints_what_it_says(capsys: pytest.CaptureFixture[str]) -> None:
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S)
                 if "analyze_frame" in b)
    code, _, printed = block.partition("print(result)\n")
    expected = [line.removeprefix("#").removeprefix(" ") for line in printed.splitlines()]
    exec(code + "print(result)\n", {})
    assert capsys.readouterr().out.rstrip("\n").splitlines() == expected


def test_the_analyze_table_has_a_concise_default_frame() -> None:
    stats = frame_statistics(USERS, METRICS)
    table = analyze(stats, control="control", kinds=KINDS,  # type: ignore[arg-type]
                    engine="bayesian")
    concise = table.to_polars()
    assert concise.width <= 14 and "chance_to_beat_control" in concise.columns
    ratio = concise.filter(pl.col("metric") == "revenue per order")
    assert ratio["chance_to_beat_control"].null_count() == ratio.height  # delta method
    assert table.to_polars("full").width > concise.width
