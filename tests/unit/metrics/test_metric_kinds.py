"""Hand-computed statistics for every metric kind, window edge, capping and CUPED."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from abwb.config import Capping, Experiment, MetricDefinition
from abwb.metrics import compute_statistics
from abwb.stats.summary import MeanStats, RatioStats

HOUR = 3600.0
ENGINES = ["duckdb", "polars"]

METRICS = {
    "conv": MetricDefinition(key="conv", kind="binomial", event="buy", window_end_s=HOUR),
    "buys": MetricDefinition(key="buys", kind="count", event="buy", window_end_s=HOUR),
    "rev": MetricDefinition(key="rev", kind="sum", event="buy", value_column="value",
                            window_end_s=HOUR),
    "aov": MetricDefinition(key="aov", kind="mean", event="buy", value_column="value",
                            window_end_s=HOUR),
    "rpv": MetricDefinition(key="rpv", kind="ratio", numerator_event="buy",
                            numerator_value_column="value", denominator_event="view",
                            window_end_s=HOUR),
    "rev_cuped": MetricDefinition(key="rev_cuped", kind="sum", event="buy",
                                  value_column="value", window_end_s=HOUR, cuped_window_s=HOUR),
    "rev_cap": MetricDefinition(key="rev_cap", kind="sum", event="buy", value_column="value",
                                window_end_s=HOUR, capping=Capping(absolute=5.0)),
    "rev_p50": MetricDefinition(key="rev_p50", kind="sum", event="buy", value_column="value",
                                window_end_s=HOUR, capping=Capping(percentile=0.5)),
}

# Analysed units (u5 crosses over and is excluded): control u1, u2; treatment u3, u4.
# In [0, 1 h): u1 buys 10 and 2, views once; u2 buys once without a value;
# u3 buys 4 (and 7 one second before exposure); u4 views 3 times (buy 1 exactly 1 h before).
EXPECTED = {
    "conv": {"control": MeanStats(2, 2.0, 2.0), "treatment": MeanStats(2, 1.0, 1.0)},
    "buys": {"control": MeanStats(2, 3.0, 5.0), "treatment": MeanStats(2, 1.0, 1.0)},
    "rev": {"control": MeanStats(2, 12.0, 144.0), "treatment": MeanStats(2, 4.0, 16.0)},
    "aov": {"control": MeanStats(1, 6.0, 36.0), "treatment": MeanStats(1, 4.0, 16.0)},
    "rpv": {"control": RatioStats(2, 12.0, 144.0, 1.0, 1.0, 12.0),
            "treatment": RatioStats(2, 4.0, 16.0, 3.0, 9.0, 0.0)},
    # covariate: u3 7 (1 s before), u4 1 (exactly 1 h before; 50 at 1 h + 1 µs is outside)
    "rev_cuped": {"control": MeanStats(2, 12.0, 144.0, 0.0, 0.0, 0.0, True),
                  "treatment": MeanStats(2, 4.0, 16.0, 8.0, 50.0, 28.0, True)},
    "rev_cap": {"control": MeanStats(2, 5.0, 25.0), "treatment": MeanStats(2, 4.0, 16.0)},
    # pooled per-unit values [12, 0, 4, 0] → linear 50th percentile 2
    "rev_p50": {"control": MeanStats(2, 2.0, 4.0), "treatment": MeanStats(2, 2.0, 4.0)},
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("key", list(METRICS))
def test_hand_computed_statistics(engine: str, key: str, small_exposures: pl.DataFrame,
                                  small_events: pl.DataFrame) -> None:
    result = compute_statistics(small_exposures, small_events, [METRICS[key]],
                                experiment="exp", engine=engine)  # type: ignore[arg-type]
    assert dict(result[key]) == EXPECTED[key]


@pytest.mark.parametrize("engine", ENGINES)
def test_data_quality_counts(engine: str, small_exposures: pl.DataFrame,
                             small_events: pl.DataFrame, experiment: Experiment) -> None:
    q = compute_statistics(small_exposures, small_events, list(METRICS.values()),
                           experiment=experiment, engine=engine).quality  # type: ignore[arg-type]
    assert q.exposures_per_variant == {"control": 4, "treatment": 3}
    assert q.units_per_variant == {"control": 2, "treatment": 2}
    assert q.crossover_units == 1 and q.crossovers_excluded
    assert q.events_before_exposure == 3  # u3's and u4's two buys before exposure
    assert q.missing_variants == () and q.unknown_variants == ()


@pytest.mark.parametrize("engine", ENGINES)
def test_crossovers_can_keep_their_first_variant(engine: str, small_exposures: pl.DataFrame,
                                                 small_events: pl.DataFrame) -> None:
    r = compute_statistics(small_exposures, small_events, [METRICS["rev"]], experiment="exp",
                           engine=engine, crossovers="first")  # type: ignore[arg-type]
    assert r["rev"]["control"] == MeanStats(3, 112.0, 10144.0)  # u5 (first: control) adds 100
    assert r.quality.units_per_variant == {"control": 3, "treatment": 2}


@pytest.mark.parametrize("engine", ENGINES)
def test_a_tie_on_first_exposure_goes_to_the_first_variant_by_name(
        engine: str, small_exposures: pl.DataFrame, small_events: pl.DataFrame,
        make_exposures: Callable[..., pl.DataFrame], time_at: Callable[..., datetime]) -> None:
    # u6 is logged in both variants at the same instant: a crossover whose first
    # variant is "control" (ties broken by variant name), whatever the row order.
    tie = make_exposures([("u6", "treatment", time_at(0)), ("u6", "control", time_at(0))])
    exposures = pl.concat([small_exposures, tie])
    r = compute_statistics(exposures, small_events, [METRICS["rev"]], experiment="exp",
                           engine=engine, crossovers="first")  # type: ignore[arg-type]
    assert r.quality.units_per_variant == {"control": 4, "treatment": 2}
    assert r.quality.crossover_units == 2
    excluded = compute_statistics(exposures, small_events, [METRICS["rev"]], experiment="exp",
                                  engine=engine)  # type: ignore[arg-type]
    assert excluded.quality.units_per_variant == {"control": 2, "treatment": 2}
    assert excluded.quality.crossover_units == 2


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("tz", ["Europe/Berlin", "Asia/Kolkata", "America/New_York"])
def test_other_time_zones_and_units_are_converted(engine: str, tz: str,
                                                  small_exposures: pl.DataFrame,
                                                  small_events: pl.DataFrame) -> None:
    events = small_events.with_columns(
        pl.col("occurred_at").dt.convert_time_zone(tz).dt.cast_time_unit("ns"))
    exposures = small_exposures.with_columns(
        pl.col("exposed_at").dt.convert_time_zone(tz).dt.cast_time_unit("ms"))
    r = compute_statistics(exposures, events, list(METRICS.values()), experiment="exp",
                           engine=engine)  # type: ignore[arg-type]
    for key, expected in EXPECTED.items():
        assert dict(r[key]) == expected, key


@pytest.mark.parametrize("engine", ENGINES)
def test_window_start_offset_and_open_end(engine: str, make_exposures: Callable[..., pl.DataFrame],
                                          make_events: Callable[..., pl.DataFrame],
                                          time_at: Callable[..., datetime]) -> None:
    exposures = make_exposures([("a", "control", time_at(0)), ("b", "treatment", time_at(0))])
    events = make_events([
        ("a", "buy", 1.0, time_at(59, 999_999)),   # before the window starts
        ("a", "buy", 2.0, time_at(60)),            # first µs of the window
        ("b", "buy", 3.0, time_at(86_400 * 300)),  # far later: open end keeps it
    ])
    m = MetricDefinition(key="late", kind="sum", event="buy", value_column="value",
                         window_start_s=60)
    r = compute_statistics(exposures, events, [m], experiment="exp", engine=engine)  # type: ignore[arg-type]
    assert r["late"]["control"].total == 2.0 and r["late"]["treatment"].total == 3.0


@pytest.mark.parametrize("engine", ENGINES)
def test_as_of_cuts_exposures_and_events(engine: str, small_exposures: pl.DataFrame,
                                         small_events: pl.DataFrame,
                                         time_at: Callable[..., datetime]) -> None:
    # At 5 s: u2 (exposed at 10 s) is not in yet, u5 has not crossed over yet (at 5 s,
    # exclusive), and u1's second buy (3599.999999 s) has not happened.
    r = compute_statistics(small_exposures, small_events, [METRICS["rev"]], experiment="exp",
                           engine=engine, as_of=time_at(5))  # type: ignore[arg-type]
    assert r.quality.units_per_variant == {"control": 2, "treatment": 2}
    assert r["rev"]["control"] == MeanStats(2, 110.0, 10100.0)  # u1 10, u5 100
    assert r["rev"]["treatment"] == MeanStats(2, 0.0, 0.0)


def test_metrics_by_key_from_a_catalog(small_exposures: pl.DataFrame,
                                       small_events: pl.DataFrame) -> None:
    r = compute_statistics(small_exposures, small_events, ["conv", "rpv"], experiment="exp",
                           catalog=list(METRICS.values()))
    assert list(r.statistics) == ["conv", "rpv"]
    assert r["rpv"]["control"] == EXPECTED["rpv"]["control"]


def test_unit_frame_on_request(small_exposures: pl.DataFrame, small_events: pl.DataFrame) -> None:
    r = compute_statistics(small_exposures, small_events,
                           [METRICS["rpv"], METRICS["rev_cuped"], METRICS["aov"]],
                           experiment="exp", keep_units=True)
    assert r.units is not None
    assert r.units.columns == ["unit_type", "unit_id", "variant", "first_exposed_at", "rpv__num",
                               "rpv__den", "rev_cuped", "rev_cuped__pre", "aov"]
    assert r.units["unit_id"].to_list() == ["u1", "u2", "u3", "u4"]
    assert r.units["rev_cuped__pre"].to_list() == [0.0, 0.0, 7.0, 1.0]
    assert r.units["aov"].to_list() == [6.0, None, 4.0, None]
    assert r.units["first_exposed_at"][1] == datetime(2026, 1, 1, 0, 0, 10, tzinfo=ZoneInfo("UTC"))


def test_ratio_with_cuped_is_reported_not_silently_dropped(small_exposures: pl.DataFrame,
                                                           small_events: pl.DataFrame) -> None:
    m = MetricDefinition(key="r", kind="ratio", numerator_event="buy", denominator_event="view",
                         cuped_window_s=HOUR)
    r = compute_statistics(small_exposures, small_events, [m], experiment="exp")
    assert isinstance(r["r"]["control"], RatioStats)
    assert r.notes == ("r: cuped_window_s is ignored for ratio metrics (RatioStats has no covariate)",)


def test_variant_without_units_is_reported_with_zero_n(experiment: Experiment,
                                                       make_exposures: Callable[..., pl.DataFrame],
                                                       small_events: pl.DataFrame,
                                                       time_at: Callable[..., datetime]) -> None:
    exposures = make_exposures([("u1", "control", time_at(0))])
    r = compute_statistics(exposures, small_events, [METRICS["rev"]], experiment=experiment)
    assert r.variants == ("control", "treatment")
    assert r["rev"]["treatment"] == MeanStats(0, 0.0, 0.0)
    assert r.quality.missing_variants == ("treatment",)
