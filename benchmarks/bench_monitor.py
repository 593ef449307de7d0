"""One monitoring pass over 100 running experiments with 1 M new events.

Pass 1 back-fills the state (200 k exposed units, 1 M events); pass 2 is the
steady state: 1 M *new* events for the same units plus 100 k new exposures,
folded into the pooled statistics of pass 1. The event store is an in-memory
polars store so the figures measure the monitor, not a database; the read of the
same rows from the embedded SQLite store is timed separately.

Run: .venv/bin/python benchmarks/bench_monitor.py
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from abwb.config import ConfigBundle, Experiment, Variant
from abwb.config.experiment import ExperimentMetrics
from abwb.config.metric import MetricDefinition
from abwb.events.frames import EVENT_SCHEMA, EXPOSURE_SCHEMA
from abwb.monitoring import MemoryAlertStore, Monitor, MonitorConfig
from abwb.store.memory import MemoryConfigStore

EXPERIMENTS = 100
UNITS = 200_000
EVENTS = 1_000_000
T0 = datetime(2026, 6, 1, tzinfo=UTC)


class FrameEventStore:
    def __init__(self) -> None:
        self.exposures = pl.DataFrame(schema=EXPOSURE_SCHEMA)
        self.events = pl.DataFrame(schema=EVENT_SCHEMA)

    def add(self, exposures: pl.DataFrame, events: pl.DataFrame) -> None:
        self.exposures = pl.concat([self.exposures, exposures])
        self.events = pl.concat([self.events, events])

    def read_exposures(self, *, experiment=None, since=None, until=None) -> pl.DataFrame:
        f = self.exposures
        if experiment is not None:
            f = f.filter(pl.col("experiment") == experiment)
        if since is not None:
            f = f.filter(pl.col("exposed_at") >= since)
        if until is not None:
            f = f.filter(pl.col("exposed_at") < until)
        return f

    def read_events(self, *, names=None, since=None, until=None) -> pl.DataFrame:
        f = self.events
        if names is not None:
            f = f.filter(pl.col("name").is_in(list(names)))
        if since is not None:
            f = f.filter(pl.col("occurred_at") >= since)
        if until is not None:
            f = f.filter(pl.col("occurred_at") < until)
        return f

    def close(self) -> None:
        pass


def bundle() -> ConfigBundle:
    metrics = [MetricDefinition(key="conv", kind="binomial", event="buy"),
               MetricDefinition(key="pageviews", kind="count", event="pageview"),
               MetricDefinition(key="revenue", kind="sum", event="buy", value_column="value")]
    experiments = [Experiment(key=f"exp-{i:03d}", status="running",
                              variants=[Variant("control", 0.5, True), Variant("treatment", 0.5)],
                              metrics=ExperimentMetrics(primary=["conv"], guardrails=["pageviews", "revenue"]))
                   for i in range(EXPERIMENTS)]
    return ConfigBundle(experiments=experiments, metrics=metrics)


def exposures(rng: np.random.Generator, first: int, count: int, start: datetime) -> pl.DataFrame:
    unit = np.arange(first, first + count)
    seconds = rng.uniform(0, 3000, count)
    return pl.DataFrame({
        "unit": unit, "variant": np.where(rng.random(count) < 0.5, "control", "treatment"), "s": seconds,
    }).select(
        pl.format("exp-{}/p1/user/u{}", (pl.col("unit") % EXPERIMENTS).cast(pl.String).str.zfill(3), "unit").alias("exposure_id"),
        pl.format("exp-{}", (pl.col("unit") % EXPERIMENTS).cast(pl.String).str.zfill(3)).alias("experiment"),
        "variant", pl.lit(1, pl.Int32).alias("phase"), pl.lit("user").alias("unit_type"),
        pl.format("u{}", "unit").alias("unit_id"), pl.lit(1, pl.Int64).alias("config_version"),
        (pl.lit(start) + pl.duration(microseconds=(pl.col("s") * 1e6).cast(pl.Int64))).dt.cast_time_unit("us").alias("exposed_at"),
    )


def events(rng: np.random.Generator, units: int, count: int, start: datetime, tag: str) -> pl.DataFrame:
    names = rng.choice(np.array(["pageview", "buy"]), size=count, p=[0.85, 0.15])
    return pl.DataFrame({
        "i": np.arange(count), "unit": rng.integers(0, units, count), "name": names,
        "value": np.round(rng.exponential(20.0, count), 2), "s": rng.uniform(3000, 3500, count),
    }).select(
        pl.format("{}-{}", pl.lit(tag), "i").alias("event_id"), pl.lit("user").alias("unit_type"),
        pl.format("u{}", "unit").alias("unit_id"), "name", "value",
        (pl.lit(start) + pl.duration(microseconds=(pl.col("s") * 1e6).cast(pl.Int64))).dt.cast_time_unit("us").alias("occurred_at"),
        pl.lit(None, pl.String).alias("properties"),
    )


def main() -> None:
    rng = np.random.default_rng(0)
    store = FrameEventStore()
    monitor = Monitor(MemoryConfigStore(bundle()), store, MemoryAlertStore(), config=MonitorConfig(lateness_s=0))
    store.add(exposures(rng, 0, UNITS, T0), events(rng, UNITS, EVENTS, T0, "a"))
    t = time.perf_counter()
    r1 = monitor.run_pass(T0 + timedelta(hours=1))
    first = time.perf_counter() - t
    start2 = T0 + timedelta(hours=1)
    store.add(exposures(rng, UNITS, UNITS // 2, start2), events(rng, UNITS + UNITS // 2, EVENTS, start2, "b"))
    t = time.perf_counter()
    r2 = monitor.run_pass(T0 + timedelta(hours=2))
    second = time.perf_counter() - t
    assert r1.ok and r2.ok, (r1.errors, r2.errors)
    print(f"monitoring pass, {EXPERIMENTS} running experiments x 3 metrics (1 primary, 2 guardrails):")
    print(f"  back-fill pass : {r1.exposures_read:>9,} exposures + {r1.events_read:>9,} events  {first:6.2f} s")
    print(f"  steady pass    : {r2.exposures_read:>9,} exposures + {r2.events_read:>9,} events  {second:6.2f} s "
          f"({r2.events_read / second:,.0f} events/s; state {sum(s.units.height for s in monitor.states.values()):,} units)")
    print(f"  alerts opened  : {len(r1.opened) + len(r2.opened)} (A/A data; info/health alerts only expected rarely)")

    # The same steady-state read from the embedded SQLite event store.
    from abwb.store.sqlite_events import SqliteEventStore

    with tempfile.TemporaryDirectory() as tmp:
        sqlite = SqliteEventStore(Path(tmp) / "abwb.db")
        new_events = store.events.filter(pl.col("occurred_at") >= start2)
        from abwb.events.models import Event

        t = time.perf_counter()
        rows = [Event(**r) for r in new_events.iter_rows(named=True)]
        sqlite.append_events(rows)
        load = time.perf_counter() - t
        t = time.perf_counter()
        read = sqlite.read_events(names=["buy", "pageview"], since=start2, until=T0 + timedelta(hours=2))
        took = time.perf_counter() - t
        sqlite.close()
    print(f"  SQLite read of the steady pass's events: {read.height:,} rows in {took:.2f} s "
          f"(load for the benchmark took {load:.1f} s)")


if __name__ == "__main__":
    main()
