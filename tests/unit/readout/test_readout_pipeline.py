"""The readout's statistics and quality checks come from abwb.metrics, with capping and CUPED."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, date, datetime

import msgspec
import polars as pl
import pytest

from abwb.config import (
    Capping,
    ConfigBundle,
    Experiment,
    ExperimentMetrics,
    MetricDefinition,
    Variant,
)
from abwb.errors import InvalidInput
from abwb.metrics import (
    UNIT_DAYS_SCHEMA,
    AssignmentAudit,
    DataQualityResult,
    MetricResults,
    statistics_from_store,
)
from abwb.readout import ReadoutResult, build_readout, results_table
from abwb.readout.build import window_end
from abwb.readout.quality import assess_quality
from abwb.simulate import (
    ConversionStream,
    GaussianStream,
    SimulationConfig,
    append_to_store,
    simulate,
)
from abwb.stats.analysis import MetricKind, analyze
from abwb.stats.config import AnalysisConfig
from abwb.stats.srm import srm_test
from abwb.store.memory import MemoryConfigStore, MemoryEventStore

DAY_S = 86_400
START = datetime(2026, 5, 1, tzinfo=UTC)
AS_OF = date(2026, 5, 10)
METRICS = [
    MetricDefinition(key="purchase", kind="binomial", event="purchase", name="Purchase"),
    MetricDefinition(key="engagement", kind="sum", event="engagement", value_column="value",
                     cuped_window_s=14 * DAY_S, window_end_s=7 * DAY_S, name="Engagement"),
    MetricDefinition(key="revenue", kind="sum", event="purchase", value_column="value",
                     capping=Capping(percentile=0.99), name="Revenue"),
]
#: The metric definitions' kinds (CUPED follows from the covariate, not from a kind).
KINDS: dict[str, MetricKind] = {m.key: m.kind for m in METRICS}


def _experiment(key: str) -> Experiment:
    return Experiment(
        key=key, status="running", name="Engagement test",
        variants=[Variant(key="control", weight=0.5, is_control=True),
                  Variant(key="treatment", weight=0.5)],
        metrics=ExperimentMetrics(primary=["purchase"], secondary=["engagement", "revenue"]),
    )


def _stores(key: str, **faults: float) -> tuple[MemoryConfigStore, MemoryEventStore]:
    exp = _experiment(key)
    config = SimulationConfig(
        users=2000, start_at=START, seed=7, exposure_period_s=7 * DAY_S,
        streams=(
            ConversionStream("purchase", rate=0.1, value_log_mean=3.0, window_s=7 * DAY_S,
                             lift={"treatment": 0.1}),
            GaussianStream("engagement", mean=10.0, sd=3.0, rho=0.8, window_s=DAY_S,
                           lift={"treatment": 0.02}),
        ),
        **faults,  # type: ignore[arg-type]
    )
    events = MemoryEventStore()
    append_to_store(simulate(exp, config), events)
    return MemoryConfigStore(ConfigBundle(experiments=[exp], metrics=METRICS)), events


@pytest.fixture(scope="module")
def stores() -> tuple[MemoryConfigStore, MemoryEventStore]:
    return _stores("cuped-test")


@pytest.fixture(scope="module")
def readout(stores: tuple[MemoryConfigStore, MemoryEventStore]) -> ReadoutResult:
    return build_readout(stores, "cuped-test", as_of=AS_OF)


@pytest.fixture(scope="module")
def library(stores: tuple[MemoryConfigStore, MemoryEventStore]) -> MetricResults:
    """What abwb.metrics says about the same data and window."""
    return statistics_from_store(stores[1], [m.key for m in METRICS],
                                 experiment=_experiment("cuped-test"), catalog=METRICS,
                                 as_of=window_end(AS_OF))


def _row(readout: ReadoutResult, metric: str) -> dict[str, object]:
    return readout.results.filter(pl.col("metric") == metric).row(0, named=True)


def test_results_are_the_libraries_statistics_and_comparisons(
    readout: ReadoutResult, library: MetricResults
) -> None:
    table = analyze(library.statistics, control="control", kinds=KINDS, config=AnalysisConfig())
    assert readout.results.height == len(table) == 3
    for expected in table:
        row = _row(readout, expected.metric)
        stats = library[expected.metric]
        assert (row["n_control"], row["n_treatment"]) == (stats["control"].n,
                                                          stats["treatment"].n)
        for column in ("method", "mean_control", "mean_treatment", "effect_rel", "ci_low_rel",
                       "ci_high_rel", "p_value", "p_value_adjusted"):
            got, want = row[column], getattr(expected, column)
            assert got == (pytest.approx(want, rel=1e-12) if isinstance(want, float) else want)
    assert readout.facts.units == sum(library.quality.units_per_variant.values())


def test_cuped_and_capping_flow_through_to_the_results(
    readout: ReadoutResult, library: MetricResults,
    stores: tuple[MemoryConfigStore, MemoryEventStore],
) -> None:
    engagement = _row(readout, "engagement")
    assert engagement["method"] == "cuped_welch_t"
    assert engagement["variance_reduction"] == pytest.approx(0.64, abs=0.1)  # ≈ rho²
    assert library["engagement"]["control"].has_covariate
    revenue = _row(readout, "revenue")
    assert revenue["method"] == "welch_t" and revenue["capping"] == "p99"
    uncapped = msgspec.structs.replace(METRICS[2], capping=None)
    raw = statistics_from_store(stores[1], [uncapped], experiment=_experiment("cuped-test"),
                                as_of=window_end(AS_OF))
    assert revenue["mean_treatment"] < raw["revenue"]["treatment"].mean  # the cap applied
    html = results_table(readout)._repr_html_()
    assert "CUPED t-test (variance -" in html and "capped at p99" in html


def test_lift_over_time_ends_at_the_readout(readout: ReadoutResult) -> None:
    days = readout.over_time.filter(pl.col("metric") == "engagement").sort("date")
    assert days["date"][0] == START.date() and days["date"][-1] == AS_OF
    assert days["units"].is_sorted()
    last = days.row(-1, named=True)
    assert last["effect_rel"] == pytest.approx(_row(readout, "engagement")["effect_rel"],
                                               rel=1e-12)


def test_injected_misassignment_fails_the_audit_and_means_investigate() -> None:
    stores = _stores("broken", misassigned_share=0.05)
    readout = build_readout(stores, "broken", as_of=AS_OF)
    library = statistics_from_store(stores[1], ["purchase"], experiment=_experiment("broken"),
                                    catalog=METRICS, as_of=window_end(AS_OF))
    audit = readout.quality.check("assignment audit")
    assert audit is not None and not audit.passed
    assert audit.value == library.quality.audit.mismatches / library.quality.audit.audited_units
    assert readout.decision.action == "investigate"


def _quality(**changes: object) -> DataQualityResult:
    base = DataQualityResult(
        experiment="e", phase=1, exposures_per_variant={"control": 500, "treatment": 500},
        units_per_variant={"control": 500, "treatment": 500}, crossover_units=0,
        crossovers_excluded=True, events_before_exposure=0,
        srm=srm_test({"control": 500, "treatment": 500}, {"control": 0.5, "treatment": 0.5}),
        audit=AssignmentAudit("ok", audited_units=1000),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "failed", "words"),
    [
        ({}, set(), "every configured variant"),
        ({"srm": srm_test({"control": 600, "treatment": 400}, {"control": .5, "treatment": .5}),
          "audit": AssignmentAudit("mismatch", audited_units=1000, mismatches=30,
                                   mismatches_by_variant={"treatment": 30})},
         {"sample ratio", "assignment audit"}, "likely cause: assignment"),
        ({"srm": srm_test({"control": 600, "treatment": 400}, {"control": .5, "treatment": .5})},
         {"sample ratio"}, "lost or extra exposures"),
        ({"crossover_units": 20}, {"crossovers"}, "20 of 1,020 units"),
        ({"units_per_variant": {"control": 500}, "missing_variants": ("treatment",), "srm": None},
         {"variants"}, "no units in treatment"),
        ({"unknown_variants": ("legacy",), "srm": None}, {"variants"}, "undefined variant"),
        ({"events_before_exposure": 42}, set(), "42 metric events"),
        ({"audit": AssignmentAudit("not_auditable", note="sticky experiment")}, set(),
         "not run: sticky"),
    ],
)
def test_quality_checks_read_the_pipelines_findings(
    changes: dict[str, object], failed: set[str], words: str
) -> None:
    exp = _experiment("e")
    quality = assess_quality(_quality(**changes), pl.DataFrame(schema=UNIT_DAYS_SCHEMA), exp)
    assert {c.name for c in quality.checks if not c.passed} == failed
    assert any(words in c.detail for c in quality.checks), [c.detail for c in quality.checks]
    srm = _quality(**changes).srm
    assert (quality.srm_p_value == srm.p_value) if srm else math.isnan(quality.srm_p_value)


def test_a_metric_subset_never_drops_the_guardrails(
    stores: tuple[MemoryConfigStore, MemoryEventStore],
) -> None:
    """``--metrics purchase`` must not silently drop a guardrail and then say ship."""
    guarded = msgspec.structs.replace(
        _experiment("cuped-test"),
        metrics=ExperimentMetrics(primary=["purchase"], guardrails=["revenue"]))
    config = MemoryConfigStore(ConfigBundle(experiments=[guarded], metrics=METRICS))
    readout = build_readout((config, stores[1]), "cuped-test", as_of=AS_OF, metrics=["purchase"])
    assert readout.facts.guardrail_metrics == ("revenue",)
    assert readout.results["metric"].to_list() == ["purchase", "revenue"]
    assert readout.results.filter(pl.col("metric") == "revenue")["guardrail_status"][0] in (
        "harmed", "not_harmed", "not_established")
    assert "guardrail" in readout.headline or readout.decision.action != "ship"


def test_default_as_of_is_the_last_complete_day_and_the_future_is_refused(
    stores: tuple[MemoryConfigStore, MemoryEventStore],
) -> None:
    today = date(2026, 5, 11)
    readout = build_readout(stores, "cuped-test", today=today)
    assert readout.facts.as_of == date(2026, 5, 10)
    assert readout.computed_at is not None and readout.abwb_version
    with pytest.raises(InvalidInput) as info:
        build_readout(stores, "cuped-test", as_of="2026-05-12", today=today)
    assert str(info.value) == ("as_of: 2026-05-12 is in the future (today is 2026-05-11 UTC); "
                               "no data can exist yet")
