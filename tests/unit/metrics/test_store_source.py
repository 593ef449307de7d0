"""Statistics read straight from an EventStore (the embedded SQLite store)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from abwb.config import Experiment, MetricDefinition, Variant
from abwb.metrics import compute_statistics, statistics_from_store
from abwb.simulate import ConversionStream, SimulationConfig, append_to_store, simulate
from abwb.store.sqlite_events import SqliteEventStore


def test_store_round_trip_gives_the_frame_statistics(tmp_path: Path) -> None:
    exp = Experiment(key="st", status="running", variants=[
        Variant("control", 0.5, is_control=True), Variant("treatment", 0.5)])
    sim = simulate(exp, SimulationConfig(
        users=400, start_at=datetime(2026, 5, 1, tzinfo=UTC), seed=9,
        streams=(ConversionStream("buy", rate=0.5, value_log_mean=1.0),
                 ConversionStream("noise", rate=0.5))))
    metrics = [MetricDefinition(key="rev", kind="sum", event="buy", value_column="value")]
    store = SqliteEventStore(tmp_path / "abwb.db")
    try:
        exposures, events = append_to_store(sim, store, batch_size=150)
        assert exposures.accepted == sim.exposures.height and events.accepted == sim.events.height
        again, _ = append_to_store(sim, store)
        assert again.accepted == 0 and again.duplicates == sim.exposures.height
        cut = datetime(2026, 5, 10, tzinfo=UTC)
        got = statistics_from_store(store, ["rev"], experiment=exp, catalog=metrics, as_of=cut)
    finally:
        store.close()
    want = compute_statistics(sim.exposures, sim.events, metrics, experiment=exp, as_of=cut)
    assert got.quality == want.quality
    for v in want.variants:
        assert got["rev"][v].n == want["rev"][v].n
        assert abs(got["rev"][v].total - want["rev"][v].total) < 1e-9
