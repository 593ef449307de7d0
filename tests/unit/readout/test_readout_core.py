"""The readout's pure core: parameters, comparisons, decision rules, JSON, tables, plots."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, date, datetime

import polars as pl
import pytest

from abwb.config import Experiment, ExperimentMetrics, MetricDefinition, Variant
from abwb.errors import InvalidInput
from abwb.metrics import UNIT_DAYS_SCHEMA
from abwb.readout import (
    MetricData,
    QualityCheck,
    ReadoutParameters,
    ReadoutQuality,
    assemble_readout,
    data_window,
    facts_table,
    guardrail_table,
    plot_forest,
    plot_lift_over_time,
    plot_posteriors,
    readout_to_dict,
    results_intro,
    results_table,
    variant_colours,
)
from abwb.stats.frequentist import proportions_ztest
from abwb.stats.summary import MeanStats

EXP = Experiment(
    key="exp", status="running",
    variants=[Variant(key="control", weight=0.5, is_control=True), Variant(key="b", weight=0.5)],
    metrics=ExperimentMetrics(primary=["conv"], guardrails=["latency"]),
)
CONV = MetricDefinition(key="conv", kind="binomial", event="buy")
LATENCY = MetricDefinition(key="latency", kind="mean", event="load", value_column="value",
                           direction="decrease", guardrail_max_harm_rel=0.01)
UNITS = pl.DataFrame({"date": [date(2026, 5, 1)] * 2, "variant": ["control", "b"],
                      "units": [1, 1],
                      "first_exposed_at": [datetime(2026, 5, 1, tzinfo=UTC)] * 2,
                      "last_exposed_at": [datetime(2026, 5, 1, tzinfo=UTC)] * 2},
                     schema=UNIT_DAYS_SCHEMA)


def _quality(passed: bool = True) -> ReadoutQuality:
    check = QualityCheck("sample ratio", passed, "as configured" if passed else "mismatch")
    return ReadoutQuality(checks=(check,), exposures_daily=pl.DataFrame(), srm_p_value=0.5)


def _readout(conv_b: int, latency_b: float, *, engine: str = "frequentist", passed: bool = True):
    metrics = [
        MetricData(CONV, "primary", {"control": MeanStats.from_counts(1000, 10_000),
                                     "b": MeanStats.from_counts(conv_b, 10_000)},
                   daily=[(date(2026, 5, 1), {"control": MeanStats.from_counts(100, 1000),
                                              "b": MeanStats.from_counts(conv_b // 10, 1000)})]),
        MetricData(LATENCY, "guardrail",
                   {"control": MeanStats(n=10_000, total=3e6, total_sq=10_000 * (300**2 + 400)),
                    "b": MeanStats(n=10_000, total=10_000 * latency_b,
                                   total_sq=10_000 * (latency_b**2 + 400))}),
    ]
    return assemble_readout(EXP, metrics, _quality(passed), units=UNITS, as_of=date(2026, 5, 7),
                            engine=engine)  # type: ignore[arg-type]


def test_parameters_name_every_bad_field() -> None:
    with pytest.raises(InvalidInput) as info:
        ReadoutParameters.from_values(experiment_key="", as_of="yesterday", alpha=1.5,
                                      engine="magic")
    paths = {p.path for p in info.value.problems}
    assert paths == {"as_of"}  # parsing problems first, before construction
    with pytest.raises(InvalidInput) as info:
        ReadoutParameters.from_values(experiment_key="", alpha=1.5, engine="magic")
    assert {p.path for p in info.value.problems} == {"experiment_key", "alpha", "engine"}


def test_results_match_stats_engine_and_ship_decision() -> None:
    readout = _readout(1150, 300.0)
    row = readout.results.filter(pl.col("metric") == "conv").row(0, named=True)
    direct = proportions_ztest(MeanStats.from_counts(1000, 10_000),
                               MeanStats.from_counts(1150, 10_000))
    assert row["effect_rel"] == pytest.approx(direct.effect_rel)
    assert row["p_value"] == pytest.approx(direct.p_value)
    assert row["outcome"] == "better"
    assert readout.decision.action == "ship" and readout.decision.variant == "b"
    assert readout.headline.startswith("Ship b: conv +15.0 % [")
    assert readout.headline.endswith("; no guardrail harmed")


def test_harmed_guardrail_blocks_shipping() -> None:
    readout = _readout(1150, 310.0)  # latency +3.3 %, tolerated 1 %
    assert readout.decision.action == "do_not_ship"
    assert "latency" in readout.decision.rule


def test_failed_quality_check_means_investigate() -> None:
    readout = _readout(1150, 300.0, passed=False)
    assert readout.decision.action == "investigate"
    assert "mismatch" in readout.headline


def test_inconclusive_primary_keeps_running() -> None:
    readout = _readout(1010, 300.0)
    assert readout.decision.action == "keep_running"


@pytest.mark.parametrize("engine", ["sequential", "bayesian"])
def test_other_engines_fill_their_columns(engine: str) -> None:
    readout = _readout(1150, 300.0, engine=engine)
    row = readout.results.row(0, named=True)
    if engine == "bayesian":
        assert row["chance_to_win"] > 0.99 and math.isnan(row["p_value"])
    else:
        assert row["method"] == "asymptotic_cs" and row["p_value"] < 0.05
    assert readout.over_time.height == 1


def test_results_json_is_strict_json_with_nulls_for_nan() -> None:
    doc = readout_to_dict(_readout(1150, 300.0))
    text = json.dumps(doc, allow_nan=False)
    assert json.loads(text)["decision"]["action"] == "ship"
    assert doc["results"][0]["chance_to_win"] is None


def test_tables_and_plots_render_for_people() -> None:
    readout = _readout(1150, 300.0, engine="bayesian")
    html = results_table(readout)._repr_html_()
    assert "chance to win" in html and "+15.0 %" in html and "object at" not in html
    assert "Exposed units" in facts_table(readout)._repr_html_()
    for plot in (plot_forest, plot_lift_over_time, plot_posteriors):
        fig = plot(readout)
        assert fig.axes and fig.axes[0].get_title(loc="left")


def test_guardrail_worse_within_tolerance_is_not_coloured_harmed() -> None:
    # latency +0.3 %: significantly worse, but within the 1 % tolerance.
    readout = _readout(1150, 300.9)
    guard = readout.results.filter(pl.col("role") == "guardrail").row(0, named=True)
    assert guard["outcome"] == "worse" and guard["guardrail_status"] == "not_harmed"
    assert readout.decision.action == "ship"
    assert readout.headline.endswith("no guardrail harmed (latency worse within tolerance)")
    html = guardrail_table(readout)._repr_html_()
    assert '<td class="abwb-caution">worse (within tolerance)</td>' in html
    assert "<td class=\"abwb-bad\">" not in html
    rows = results_table(readout, roles=("primary", "guardrail"))._repr_html_()
    assert '<td class="abwb-caution">worse (within tolerance)</td>' in rows
    harmed = results_table(_readout(1150, 310.0), roles=("guardrail",))._repr_html_()
    assert '<td class="abwb-bad">worse (harmed)</td>' in harmed


def test_one_colour_per_variant_in_every_plot() -> None:
    readout = _readout(1150, 300.0, engine="bayesian")
    colours = variant_colours([v.key for v in readout.facts.variants])
    lift = plot_lift_over_time(readout).axes[0].get_lines()[0]
    posterior = plot_posteriors(readout).axes[0].get_lines()[0]
    assert lift.get_color() == posterior.get_color() == colours["b"] != colours["control"]


def test_results_intro_follows_the_engine() -> None:
    assert "p-values" not in results_intro(_readout(1150, 300.0, engine="bayesian"))
    assert "Chance to win" in results_intro(_readout(1150, 300.0, engine="bayesian"))
    assert "p-values are adjusted" in results_intro(_readout(1150, 300.0))
    assert "always-valid" in results_intro(_readout(1150, 300.0, engine="sequential"))


def test_report_says_when_and_which_window() -> None:
    readout = _readout(1150, 300.0)
    later = dataclasses.replace(readout, computed_at=datetime(2026, 5, 8, 6, 30, tzinfo=UTC),
                                abwb_version="9.9")
    assert "last complete day" in data_window(later)
    text = str(facts_table(later))
    assert "2026-05-08 06:30 UTC · abwb 9.9" in text
    same_day = dataclasses.replace(later, computed_at=datetime(2026, 5, 7, 14, 5, tzinfo=UTC))
    assert "2026-05-07 is today: a partial day, data up to 14:05 UTC" in data_window(same_day)
    doc = readout_to_dict(later)
    assert (doc["computed_at"], doc["abwb_version"]) == ("2026-05-08T06:30:00+00:00", "9.9")
