"""A readout run in the warehouse (PostgreSQL pushdown, Spark local[2]) writes the same
results.json as the embedded engine over the same data, and only aggregates cross the wire."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import polars as pl
import psycopg
import pytest

from abwb.cli.readout import register
from abwb.config import ConfigBundle, Experiment, ExperimentMetrics, MetricDefinition, Variant
from abwb.metrics import WarehouseSource, WarehouseTables, compute_statistics, unit_days
from abwb.readout import build_readout
from abwb.readout.build import window_end
from abwb.readout.report import write_results
from abwb.simulate import (
    ConversionStream,
    GaussianStream,
    SimulationConfig,
    append_to_store,
    simulate,
)
from abwb.store import PostgresDatabase
from abwb.store.memory import MemoryConfigStore, MemoryEventStore
from abwb.store.postgres_events import PostgresEventStore

DAY_S = 86_400
START = datetime(2026, 5, 1, tzinfo=UTC)
AS_OF = date(2026, 5, 10)
METRICS = [
    MetricDefinition(key="purchase", kind="binomial", event="purchase"),
    MetricDefinition(key="engagement", kind="sum", event="engagement", value_column="value",
                     cuped_window_s=14 * DAY_S, window_end_s=7 * DAY_S),
    MetricDefinition(key="rps", kind="ratio", numerator_event="purchase",
                     numerator_value_column="value", denominator_event="engagement"),
]
EXPERIMENT = Experiment(
    key="wh-readout", status="running",
    variants=[Variant(key="control", weight=0.5, is_control=True),
              Variant(key="treatment", weight=0.5)],
    metrics=ExperimentMetrics(primary=["purchase"], secondary=["engagement", "rps"]),
)
SIM = SimulationConfig(
    users=3000, start_at=START, seed=5, exposure_period_s=7 * DAY_S, crossover_share=0.02,
    misassigned_share=0.01,
    streams=(
        ConversionStream("purchase", rate=0.1, value_log_mean=3.0, lift={"treatment": 0.1}),
        GaussianStream("engagement", mean=10.0, sd=3.0, rho=0.8, window_s=DAY_S),
    ),
)


@pytest.fixture(scope="module")
def sim() -> Any:
    return simulate(EXPERIMENT, SIM)


@pytest.fixture(scope="module")
def embedded(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """results.json of the embedded readout (event store read into DuckDB)."""
    events = MemoryEventStore()
    append_to_store(sim, events)
    readout = build_readout((_config(), events), EXPERIMENT.key, as_of=AS_OF, today=AS_OF)
    return _results(readout, tmp_path_factory.mktemp("embedded"))


@pytest.fixture(scope="module")
def pg(pg_url: str, sim: Any) -> Iterator[tuple[PostgresEventStore, str]]:
    """The same data in a PostgreSQL schema; yields the store and a URL pinned to it."""
    schema = f"t_whr_{uuid.uuid4().hex[:10]}"
    db = PostgresDatabase(pg_url, schema=schema)
    store = PostgresEventStore(db)
    try:
        append_to_store(sim, store)
        sep = "&" if "?" in pg_url else "?"
        yield store, f"{pg_url}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        db.close()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _config() -> MemoryConfigStore:
    return MemoryConfigStore(ConfigBundle(experiments=[EXPERIMENT], metrics=METRICS))


def _results(readout: Any, directory: Path) -> str:
    text = write_results(readout, directory / "results.json").read_text(encoding="utf-8")
    computed = readout.computed_at.isoformat() if hasattr(readout, "computed_at") else None
    return text if computed is None else text.replace(computed, "<computed_at>")


def assert_same_report(got: str, want: str) -> None:
    """Same document: strings, counts and decisions exactly, floats to 1e-9 relative
    (the engines add in different orders); only ``computed_at`` may differ."""
    import json
    import math

    def walk(a: Any, b: Any, path: str) -> None:
        if isinstance(b, dict):
            assert isinstance(a, dict) and set(a) == set(b), path
            for k in b:
                if k != "computed_at":
                    walk(a[k], b[k], f"{path}.{k}")
        elif isinstance(b, list):
            assert isinstance(a, list) and len(a) == len(b), path
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                walk(x, y, f"{path}[{i}]")
        elif isinstance(b, float) and not isinstance(a, bool):
            assert isinstance(a, int | float), path
            assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), (path, a, b)
        else:
            assert a == b, (path, a, b)

    walk(json.loads(got), json.loads(want), "$")


def test_postgres_readout_equals_the_embedded_one(
    pg: tuple[PostgresEventStore, str], embedded: str, tmp_path: Path
) -> None:
    store, url = pg
    by_store = build_readout((_config(), store), EXPERIMENT.key, as_of=AS_OF, today=AS_OF)
    by_url = build_readout((_config(), store), EXPERIMENT.key, as_of=AS_OF, today=AS_OF,
                           warehouse=WarehouseSource(url))
    assert_same_report(_results(by_store, tmp_path), embedded)
    assert_same_report(_results(by_url, tmp_path), embedded)
    assert 0 < by_url.facts.units < 3000  # crossovers excluded, none invented


def test_unit_days_cross_the_wire_as_aggregates(
    pg: tuple[PostgresEventStore, str], sim: Any
) -> None:
    _, url = pg
    until = window_end(AS_OF)
    local = unit_days(sim.exposures, sim.events, experiment=EXPERIMENT, as_of=until)
    reference = unit_days(sim.exposures, sim.events, experiment=EXPERIMENT, as_of=until,
                          engine="polars")
    remote = unit_days(WarehouseSource(url), None, experiment=EXPERIMENT, as_of=until)
    assert local.equals(reference) and remote.equals(reference)
    # O(variants x days) rows, and they add up to the units the statistics analysed.
    assert reference.height <= 2 * 8
    stats = compute_statistics(WarehouseSource(url), None, METRICS, experiment=EXPERIMENT,
                               as_of=until)
    per_variant = dict(reference.group_by("variant").agg(pl.col("units").sum()).iter_rows())
    assert per_variant == stats.quality.units_per_variant
    assert reference["date"].min() == START.date()
    assert (reference["first_exposed_at"] <= reference["last_exposed_at"]).all()
    assert (reference["first_exposed_at"].dt.date() == reference["date"]).all()


def test_the_cli_passes_the_warehouse_url() -> None:
    import argparse

    from abwb.cli.readout import _options

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["readout", "k", "--warehouse", "local[2]"])
    assert _options(args, [])["warehouse"] == "local[2]"
    bad = parser.parse_args(["readout", "k", "-p", "warehouse_url", "x"])
    with pytest.raises(Exception, match="set by the command itself"):
        _options(bad, ["warehouse_url"])


@pytest.mark.spark
def test_spark_readout_equals_the_embedded_one(
    spark: Any, sim: Any, embedded: str, tmp_path: Path
) -> None:
    # local[2] reuses the running session: the tables are temp views in it.
    for name, frame in (("exposures", sim.exposures), ("events", sim.events)):
        path = tmp_path / f"whr_{name}.parquet"
        frame.write_parquet(path)
        spark.read.parquet(str(path)).createOrReplaceTempView(f"whr_{name}")
    source = WarehouseSource(spark, WarehouseTables("whr_exposures", "whr_events"))
    readout = build_readout((_config(), MemoryEventStore()), EXPERIMENT.key, as_of=AS_OF,
                            today=AS_OF, warehouse=source)
    assert_same_report(_results(readout, tmp_path), embedded)


@pytest.mark.spark
def test_spark_cached_steps_give_the_same_rows_and_leave_no_views(
    spark: Any, sim: Any, tmp_path: Path
) -> None:
    from abwb.metrics.engine import PipelineRequest
    from abwb.metrics.plan import plan_metrics
    from abwb.metrics.sql_engine import SqlEngine
    from abwb.metrics.warehouse import MATERIALISED_CTES, SparkRunner

    for name, frame in (("exposures", sim.exposures), ("events", sim.events)):
        path = tmp_path / f"whc_{name}.parquet"
        frame.write_parquet(path)
        spark.read.parquet(str(path)).createOrReplaceTempView(f"whc_{name}")
    tables = WarehouseTables("whc_exposures", "whc_events")
    request = PipelineRequest(EXPERIMENT.key, 1, plan_metrics(METRICS), None, "exclude",
                              keep_units=False, audit=EXPERIMENT)
    inline = SqlEngine(SparkRunner(spark, owns=False), tables).run(request)
    cached = SqlEngine(SparkRunner(spark, owns=False, materialise=MATERIALISED_CTES),
                       tables).run(request)
    assert cached.stats.equals(inline.stats)
    assert cached.units_per_variant == inline.units_per_variant
    assert cached.audit == inline.audit
    assert not [t.name for t in spark.catalog.listTables() if t.name.startswith("abwb_")]
