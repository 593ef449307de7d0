"""DuckDB and polars agree; partitions pool; Parquet and Arrow sources; daily cumulative."""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from abwb.config import Capping, Experiment, MetricDefinition, Variant
from abwb.metrics import (
    DuckDBEngine,
    MetricResults,
    compute_statistics,
    daily_cumulative_statistics,
)
from abwb.metrics.inputs import prepare_events, prepare_exposures
from abwb.metrics.plan import plan_metrics
from abwb.simulate import ConversionStream, GaussianStream, SimulationConfig, simulate

DAY = 86_400.0
METRICS = [
    MetricDefinition(key="conv", kind="binomial", event="buy", window_end_s=7 * DAY),
    MetricDefinition(key="orders", kind="count", event="buy"),
    MetricDefinition(key="rev", kind="sum", event="buy", value_column="value",
                     capping=Capping(absolute=40.0)),
    MetricDefinition(key="aov", kind="mean", event="buy", value_column="value",
                     window_start_s=3600, window_end_s=10 * DAY),
    MetricDefinition(key="rps", kind="ratio", numerator_event="buy",
                     numerator_value_column="value", denominator_event="session"),
    MetricDefinition(key="eng", kind="sum", event="engagement", value_column="value",
                     cuped_window_s=14 * DAY),
    MetricDefinition(key="eng_p95", kind="sum", event="engagement", value_column="value",
                     cuped_window_s=14 * DAY, capping=Capping(percentile=0.95)),
]
EXPERIMENT = Experiment(key="shop", status="running", variants=[
    Variant("control", 0.5, is_control=True), Variant("a", 0.25), Variant("b", 0.25)])


@pytest.fixture(scope="module")
def shared() -> tuple[pl.DataFrame, pl.DataFrame]:
    """One fixture for every engine comparison: values rounded to multiples of 1/4 so
    every sum is exact in floating point and the engines must agree bit for bit."""
    cfg = SimulationConfig(users=4000, start_at=datetime(2026, 3, 1, tzinfo=UTC), seed=7,
                           crossover_share=0.02, streams=(
        ConversionStream("buy", rate=0.3, events_per_conversion=2.0, value_log_mean=2.0,
                         lift={"a": 0.1}),
        ConversionStream("session", rate=0.9, events_per_conversion=4.0),
        GaussianStream("engagement", mean=20, sd=4, rho=0.6, lift={"b": 0.05}),
    ))
    sim = simulate(EXPERIMENT, cfg)
    events = sim.events.with_columns((pl.col("value") * 4).round() / 4)
    return sim.exposures, events


def _close(a: object, b: object) -> bool:
    """Same statistics up to float summation order (n and flags exactly)."""
    fa, fb = a.__dataclass_fields__, b.__dataclass_fields__  # type: ignore[attr-defined]
    return type(a) is type(b) and fa == fb and all(
        getattr(a, f) == getattr(b, f) if not isinstance(getattr(a, f), float)
        else math.isclose(getattr(a, f), getattr(b, f), rel_tol=1e-10, abs_tol=1e-12)
        for f in fa)


def _frame(r: MetricResults) -> pl.DataFrame:
    return r.to_frame().sort("metric", "variant")


def test_polars_and_duckdb_give_identical_statistics(shared: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    exposures, events = shared
    duck = compute_statistics(exposures, events, METRICS, experiment=EXPERIMENT, keep_units=True)
    pol = compute_statistics(exposures, events, METRICS, experiment=EXPERIMENT, engine="polars",
                             keep_units=True)
    # Per-unit means (Σ/k) are not multiples of 1/4, so their per-variant sums depend
    # on the summation order: equal to 1e-10; everything else is bit-identical.
    exact = {k: v for k, v in duck.statistics.items() if k != "aov"}
    assert exact == {k: v for k, v in pol.statistics.items() if k != "aov"}
    for variant, s in duck["aov"].items():
        other = pol["aov"][variant]
        assert s.n == other.n and math.isclose(s.total, other.total, rel_tol=1e-10)
        assert math.isclose(s.total_sq, other.total_sq, rel_tol=1e-10)
    assert duck.quality == pol.quality
    assert duck.units is not None and pol.units is not None
    assert duck.units.equals(pol.units)
    assert duck.quality.crossover_units > 0
    assert all(s.n > 500 for s in duck["conv"].values())


def test_engines_agree_on_unrounded_heavy_tailed_values() -> None:
    sim = simulate(EXPERIMENT, SimulationConfig(
        users=3000, start_at=datetime(2026, 3, 1, tzinfo=UTC), seed=3,
        streams=(ConversionStream("buy", rate=0.4, value_log_mean=3.0, value_log_sd=1.5,
                                  events_per_conversion=3.0),)))
    ms = [METRICS[1], METRICS[2], METRICS[3],
          MetricDefinition(key="rev99", kind="sum", event="buy", value_column="value",
                           capping=Capping(percentile=0.99))]
    duck = compute_statistics(sim.exposures, sim.events, ms, experiment="shop")
    pol = compute_statistics(sim.exposures, sim.events, ms, experiment="shop", engine="polars")
    for key in duck.statistics:
        for variant, s in duck[key].items():
            other = pol[key][variant]
            assert s.n == other.n
            assert math.isclose(s.total, other.total, rel_tol=1e-10)
            assert math.isclose(s.total_sq, other.total_sq, rel_tol=1e-10)


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_pooling_two_halves_equals_the_union(engine: str,
                                             shared: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    exposures, events = shared
    # Percentile capping depends on the pooled population, so it does not pool exactly.
    metrics = [m for m in METRICS if m.capping is None or m.capping.percentile is None]
    units = exposures["unit_id"].unique().sort()
    rng = np.random.default_rng(0)
    half = set(units.filter(pl.Series(rng.random(units.len()) < 0.5)).to_list())
    parts = []
    for keep in (True, False):
        exp_part = exposures.filter(pl.col("unit_id").is_in(half) == keep)
        ev_part = events.filter(pl.col("unit_id").is_in(half) == keep)
        parts.append(compute_statistics(exp_part, ev_part, metrics, experiment=EXPERIMENT,
                                        engine=engine))  # type: ignore[arg-type]
    whole = compute_statistics(exposures, events, metrics, experiment=EXPERIMENT,
                               engine=engine)  # type: ignore[arg-type]
    for m in metrics:
        for v in whole.variants:
            pooled = parts[0][m.key][v] + parts[1][m.key][v]  # type: ignore[operator]
            assert _close(pooled, whole[m.key][v]), (m.key, v)


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_parquet_glob_arrow_and_lazy_sources(engine: str, tmp_path: Path,
                                             shared: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    exposures, events = shared
    expected = compute_statistics(exposures, events, METRICS, experiment="shop")
    exposures.write_parquet(tmp_path / "exposures.parquet")
    n = events.height // 2
    events[:n].write_parquet(tmp_path / "events-1.parquet")
    events[n:].write_parquet(tmp_path / "events-2.parquet")
    for exp_src, ev_src in [
        (tmp_path / "exposures.parquet", str(tmp_path / "events-*.parquet")),
        (exposures.to_arrow(), events.to_arrow()),
        (exposures.lazy(), events.lazy()),
    ]:
        got = compute_statistics(exp_src, ev_src, METRICS, experiment="shop", engine=engine)  # type: ignore[arg-type]
        for key in ("conv", "orders", "rev", "rps", "eng"):
            assert got[key] == expected[key], key


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_daily_cumulative_ends_at_the_final_statistics(
        engine: str, shared: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    exposures, events = shared
    cut = datetime(2026, 3, 8, tzinfo=UTC)
    daily = daily_cumulative_statistics(exposures, events, METRICS[:5], experiment="shop",
                                        engine=engine, as_of=cut)  # type: ignore[arg-type]
    days = daily["day"].unique().sort().to_list()
    assert days[0].isoformat() == "2026-03-01" and days[-1].isoformat() == "2026-03-07"
    final = compute_statistics(exposures, events, METRICS[:5], experiment="shop", as_of=cut)
    last = daily.filter(pl.col("day") == days[-1]).drop("day", "value").sort("metric", "variant")
    # Sums of non-dyadic per-unit means may differ in the last bits between two parallel
    # DuckDB passes (summation order), so compare to 1e-9 relative, counts exactly.
    assert_frame_equal(last, _frame(final).select(last.columns), check_exact=False, rel_tol=1e-9)
    n = daily.filter(pl.col("metric") == "conv").group_by("day").agg(pl.col("n").sum()).sort("day")
    assert n["n"].is_sorted() and n["n"][0] < n["n"][-1]  # units accumulate over days
    assert daily.filter(pl.col("kind") == "ratio")["value"].null_count() == 0


def test_engines_agree_when_crossovers_keep_their_first_variant(
        shared: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    exposures, events = shared
    # Re-expose some units in another variant: later (a plain crossover) and at the very
    # same instant (a tie, broken by variant name) so the first-variant rule is exercised.
    other = pl.when(pl.col("variant") == "control").then(pl.lit("b")).otherwise(pl.lit("control"))
    extra = exposures.head(300).with_columns(other.alias("variant"))
    exposures = pl.concat([exposures, extra.head(150), extra.slice(150).with_columns(
        pl.col("exposed_at") + pl.duration(seconds=5))])
    duck = compute_statistics(exposures, events, METRICS, experiment=EXPERIMENT,
                              crossovers="first", keep_units=True)
    pol = compute_statistics(exposures, events, METRICS, experiment=EXPERIMENT, engine="polars",
                             crossovers="first", keep_units=True)
    assert {k: v for k, v in duck.statistics.items() if k != "aov"} == {
        k: v for k, v in pol.statistics.items() if k != "aov"}
    assert all(_close(s, pol["aov"][v]) for v, s in duck["aov"].items())
    assert duck.quality == pol.quality and duck.quality.crossover_units >= 300
    assert duck.units is not None and pol.units is not None
    assert duck.units.equals(pol.units)


def test_duckdb_threads_default_to_the_usable_cores(
        shared: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    exposures, events = shared
    plans = plan_metrics(METRICS)
    sources = prepare_exposures(exposures), prepare_events(events, plans)
    for threads, want in [(None, len(os.sched_getaffinity(0))), (1, 1)]:
        engine = DuckDBEngine(*sources, threads=threads)
        try:
            got = engine.con.sql("SELECT current_setting('threads')").fetchall()[0][0]
        finally:
            engine.close()
        assert int(got) == want
