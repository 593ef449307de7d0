"""The simulator: deterministic, contract frames, true effects recovered, faults injected."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from abwb.assignment import Assigner
from abwb.bulk import assign_frame
from abwb.config import ConfigBundle, Experiment, MetricDefinition, Variant
from abwb.errors import InvalidInput
from abwb.events import EVENT_SCHEMA, EXPOSURE_SCHEMA
from abwb.metrics import compute_statistics, daily_cumulative_statistics
from abwb.simulate import (
    ConversionStream,
    GaussianStream,
    Novelty,
    SimulationConfig,
    simulate,
)

DAY = 86_400.0
START = datetime(2026, 2, 1, tzinfo=UTC)
EXP = Experiment(key="sim", status="running", variants=[
    Variant("control", 0.5, is_control=True), Variant("treatment", 0.5)])
STREAMS = (
    ConversionStream("purchase", rate=0.10, value_log_mean=3.0, value_log_sd=1.0,
                     lift={"treatment": 0.20}, value_lift={"treatment": 0.10}),
    GaussianStream("engagement", mean=50.0, sd=10.0, rho=0.7, lift={"treatment": 0.02}),
)


@pytest.fixture(scope="module")
def big() -> tuple[pl.DataFrame, pl.DataFrame]:
    sim = simulate(EXP, SimulationConfig(users=100_000, start_at=START, seed=11, streams=STREAMS))
    return sim.exposures, sim.events


def test_frames_follow_the_contract_and_are_deterministic() -> None:
    cfg = SimulationConfig(users=2000, start_at=START, seed=5, streams=STREAMS)
    a, b = simulate(EXP, cfg), simulate(EXP, cfg)
    assert a.exposures.schema == EXPOSURE_SCHEMA and a.events.schema == EVENT_SCHEMA
    assert a.exposures.equals(b.exposures) and a.events.equals(b.events)
    assert a.exposures["exposure_id"].is_unique().all() and a.events["event_id"].is_unique().all()
    other = simulate(EXP, SimulationConfig(users=2000, start_at=START, seed=6, streams=STREAMS))
    assert not other.events.equals(a.events)


def test_variants_come_from_the_real_assignment_engine() -> None:
    sim = simulate(EXP, SimulationConfig(users=500, start_at=START, seed=1))
    engine = assign_frame(Assigner(ConfigBundle(experiments=[EXP])), sim.exposures.select("unit_id"),
                          "sim", now=START)
    assert sim.exposures["variant"].to_list() == engine["variant"].to_list()
    decide = Assigner(ConfigBundle(experiments=[EXP])).decide
    assert all(decide("sim", u, now=START).variant == v
               for u, v in sim.exposures.select("unit_id", "variant").head(50).iter_rows())


def test_true_effects_are_recovered(big: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    exposures, events = big
    metrics = [
        MetricDefinition(key="conv", kind="binomial", event="purchase"),
        MetricDefinition(key="aov", kind="mean", event="purchase", value_column="value"),
        MetricDefinition(key="eng", kind="sum", event="engagement", value_column="value"),
    ]
    r = compute_statistics(exposures, events, metrics, experiment=EXP)

    def assert_lift(key: str, true: float) -> None:
        # Within 4 delta-method standard errors of the relative lift.
        c, t = r[key]["control"], r[key]["treatment"]
        ratio = t.mean / c.mean  # type: ignore[union-attr]
        se = ratio * math.sqrt(t.var / (t.n * t.mean**2) + c.var / (c.n * c.mean**2))  # type: ignore[union-attr]
        assert abs(ratio - 1 - true) < 4 * se, (key, ratio - 1, se)
        assert se < 0.05

    assert r["conv"]["control"].mean == pytest.approx(0.10, abs=0.004)  # type: ignore[union-attr]
    assert r["aov"]["control"].mean == pytest.approx(math.exp(3.5), rel=0.06)  # type: ignore[union-attr]
    assert_lift("conv", 0.20)
    assert_lift("aov", 0.10)
    assert_lift("eng", 0.02)


def test_cuped_covariate_correlation_is_rho(big: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    exposures, events = big
    m = MetricDefinition(key="eng", kind="sum", event="engagement", value_column="value",
                         cuped_window_s=14 * DAY)
    r = compute_statistics(exposures, events, [m], experiment=EXP)
    for s in r["eng"].values():
        corr = s.cov / math.sqrt(s.var * s.covariate_var)  # type: ignore[union-attr]
        assert corr == pytest.approx(0.7, abs=0.02)


def test_faults_srm_loss_and_novelty() -> None:
    streams = (ConversionStream("buy", rate=0.2, window_s=14 * DAY, lift={"treatment": 0.1},
                                novelty=Novelty(extra_lift=1.0, half_life_s=DAY)),)
    cfg = SimulationConfig(users=40_000, start_at=START, seed=3, exposure_period_s=DAY,
                           srm_drop={"treatment": 0.2}, event_loss=0.5, streams=streams)
    sim = simulate(EXP, cfg)
    counts = dict(sim.exposures.group_by("variant").len().iter_rows())
    assert counts["treatment"] / counts["control"] == pytest.approx(0.8, abs=0.03)
    full = simulate(EXP, SimulationConfig(users=40_000, start_at=START, seed=3,
                                          exposure_period_s=DAY, streams=streams))
    assert sim.events.height / full.events.height == pytest.approx(0.5, abs=0.02)
    # Novelty: the lift measured in the first day is far above the lift over two weeks.
    early = [MetricDefinition(key="d1", kind="binomial", event="buy", window_end_s=DAY)]
    late = [MetricDefinition(key="d14", kind="binomial", event="buy", window_start_s=7 * DAY)]
    r1 = compute_statistics(full.exposures, full.events, early, experiment=EXP)
    r2 = compute_statistics(full.exposures, full.events, late, experiment=EXP)
    lift1 = r1["d1"]["treatment"].mean / r1["d1"]["control"].mean - 1  # type: ignore[union-attr]
    lift2 = r2["d14"]["treatment"].mean / r2["d14"]["control"].mean - 1  # type: ignore[union-attr]
    assert lift1 > 0.6 and lift2 < 0.2
    daily = daily_cumulative_statistics(full.exposures, full.events, early, experiment=EXP)
    assert daily["day"].n_unique() >= 2


def test_traffic_and_bad_configs() -> None:
    half = Experiment(key="half", status="running", traffic_fraction=0.5, variants=EXP.variants)
    sim = simulate(half, SimulationConfig(users=10_000, start_at=START, seed=2))
    assert sim.exposures.height == pytest.approx(5000, abs=250)
    assert sim.assignments.height == 10_000
    with pytest.raises(InvalidInput, match=r"streams\[0\].lift: unknown variant 'b'"):
        simulate(EXP, SimulationConfig(users=10, start_at=START,
                                       streams=(ConversionStream("x", 0.1, lift={"b": 0.1}),)))
    with pytest.raises(InvalidInput) as info:
        SimulationConfig(users=-1, start_at=datetime(2026, 1, 1), event_loss=2.0)
    assert [p.path for p in info.value.problems] == ["users", "start_at", "event_loss"]
    with pytest.raises(InvalidInput, match="rho: must be in"):
        GaussianStream("g", mean=1, sd=1, rho=1.5)
    assert np.isfinite(sim.exposures["exposed_at"].dt.epoch("us").to_numpy()).all()
