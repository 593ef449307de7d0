"""One simulated experiment, four engines: polars (reference), DuckDB, PostgreSQL pushdown
and Spark local[2] give the same sufficient statistics, SRM and audit; PostgreSQL and
Spark return O(variants x metrics) rows."""

from __future__ import annotations

import io
import json
import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
import pytest

from abwb.config import Capping, Experiment, MetricDefinition, Variant
from abwb.metrics import MetricResults, compute_statistics
from abwb.metrics.engine import PipelineRequest
from abwb.metrics.plan import plan_metrics
from abwb.metrics.sql_query import WarehouseTables
from abwb.metrics.warehouse import WarehouseSource, open_engine
from abwb.simulate import ConversionStream, GaussianStream, SimulationConfig, simulate
from abwb.store import PostgresDatabase
from abwb.store.postgres_events import PostgresEventStore

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


def simulated(users: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every fault the pipeline must see alike: crossovers, logging loss, mis-assignment."""
    cfg = SimulationConfig(
        users=users, start_at=datetime(2026, 3, 1, tzinfo=UTC), seed=11,
        crossover_share=0.02, exposure_loss=0.01, event_loss=0.02, misassigned_share=0.001,
        streams=(
            ConversionStream("buy", rate=0.3, events_per_conversion=2.0, value_log_mean=2.0,
                             lift={"a": 0.1}),
            ConversionStream("session", rate=0.9, events_per_conversion=3.0),
            GaussianStream("engagement", mean=20, sd=4, rho=0.6, lift={"b": 0.05}),
        ))
    sim = simulate(EXPERIMENT, cfg)
    return sim.exposures, sim.events


def assert_same(got: MetricResults, want: MetricResults) -> None:
    """Counts exactly, sums to 1e-9 relative; identical quality (SRM, audit)."""
    assert got.variants == want.variants
    for key, per_variant in want.statistics.items():
        for variant, s in per_variant.items():
            o = got[key][variant]
            assert type(o) is type(s) and o.n == s.n, (key, variant)
            for f in s.__dataclass_fields__:  # type: ignore[attr-defined]
                a, b = getattr(o, f), getattr(s, f)
                if isinstance(b, float):
                    assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), (key, variant, f, a, b)
                else:
                    assert a == b, (key, variant, f)
    assert got.quality == want.quality


def load_postgres(db: PostgresDatabase, exposures: pl.DataFrame, events: pl.DataFrame) -> None:
    """COPY the frames into the event store's own tables."""
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute("SET LOCAL statement_timeout = 0")  # a bulk load, not a serving write
        for table, frame in (("exposures", exposures), ("events", events)):
            buf = io.BytesIO()
            frame.write_csv(buf, include_header=False)
            with cur.copy(f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN (FORMAT csv)") as cp:
                cp.write(buf.getvalue())
        conn.commit()
        # A warehouse has planner statistics; a table loaded a moment ago not yet.
        conn.execute("SET LOCAL statement_timeout = 0")
        conn.execute("ANALYZE exposures")
        conn.execute("ANALYZE events")
        conn.commit()


@pytest.fixture(scope="module")
def data() -> tuple[pl.DataFrame, pl.DataFrame]:
    return simulated(20_000)


@pytest.fixture(scope="module")
def pg_store(pg_url: str, data: tuple[pl.DataFrame, pl.DataFrame]) -> Iterator[PostgresEventStore]:
    schema = f"t_wh_{uuid.uuid4().hex[:10]}"
    db = PostgresDatabase(pg_url, schema=schema)
    store = PostgresEventStore(db)
    try:
        load_postgres(db, *data)
        yield store
    finally:
        db.close()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def spark_views(spark: Any, tmp: Path, exposures: pl.DataFrame, events: pl.DataFrame,
                prefix: str) -> WarehouseTables:
    for name, frame in (("exposures", exposures), ("events", events)):
        path = tmp / f"{prefix}_{name}.parquet"
        frame.write_parquet(path)
        spark.read.parquet(str(path)).createOrReplaceTempView(f"{prefix}_{name}")
    return WarehouseTables(f"{prefix}_exposures", f"{prefix}_events")


@pytest.fixture(scope="module")
def reference(data: tuple[pl.DataFrame, pl.DataFrame]) -> MetricResults:
    return compute_statistics(*data, METRICS, experiment=EXPERIMENT, engine="polars")


def test_duckdb_matches_the_polars_reference(data: tuple[pl.DataFrame, pl.DataFrame],
                                             reference: MetricResults) -> None:
    got = compute_statistics(*data, METRICS, experiment=EXPERIMENT)
    assert_same(got, reference)
    assert reference.quality.audit.mismatches > 0  # the injected mis-assignment is found
    assert reference.quality.crossover_units > 0


@pytest.mark.integration
def test_postgres_pushdown_matches_the_polars_reference(
        pg_store: PostgresEventStore, reference: MetricResults) -> None:
    got = compute_statistics(WarehouseSource(pg_store), None, METRICS, experiment=EXPERIMENT)
    assert got.engine == "postgres"
    assert_same(got, reference)


def _rows_bound(plans: int, variants: int) -> int:
    # stats (metric x variant) + exposures/units per variant + 2 scalars,
    # and the audit: 3 scalars + mismatches per variant + at most 10 examples.
    return plans * variants + 2 * variants + 2 + 3 + variants + 10


@pytest.mark.integration
def test_postgres_returns_only_aggregates(pg_store: PostgresEventStore,
                                          data: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    engine = open_engine(WarehouseSource(pg_store))
    try:
        engine.run(PipelineRequest("shop", 1, plan_metrics(METRICS), None, "exclude",
                                   keep_units=False, audit=EXPERIMENT))
    finally:
        engine.close()
    assert 0 < engine.rows_fetched <= _rows_bound(len(METRICS), 3)
    assert data[1].height > 100 * engine.rows_fetched  # versus pulling the events


@pytest.mark.integration
def test_postgres_tables_with_other_column_names(
        pg_url: str, data: tuple[pl.DataFrame, pl.DataFrame], reference: MetricResults) -> None:
    schema = f"t_wh_{uuid.uuid4().hex[:10]}"
    exposures, events = data
    exposures = exposures.rename({"unit_id": "user_id", "exposed_at": "ts"})
    events = events.rename({"unit_id": "user_id", "occurred_at": "ts", "value": "amount"})
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            conn.execute(f"""CREATE TABLE "{schema}".exp (exposure_id text, experiment text,
                variant text, phase int, unit_type text, user_id text, config_version bigint,
                ts timestamptz)""")
            conn.execute(f"""CREATE TABLE "{schema}".ev (event_id text, unit_type text,
                user_id text, name text, amount double precision, ts timestamptz,
                properties text)""")
            for table, frame in (("exp", exposures), ("ev", events)):
                buf = io.BytesIO()
                frame.write_csv(buf, include_header=False)
                with conn.cursor().copy(f'COPY "{schema}".{table} FROM STDIN (FORMAT csv)') as cp:
                    cp.write(buf.getvalue())
                conn.execute(f'ANALYZE "{schema}".{table}')
            ev_tables = WarehouseTables(
                f"{schema}.exp", f"{schema}.ev",
                columns={"unit_id": "user_id", "exposed_at": "ts", "occurred_at": "ts",
                         "value": "amount"})
            got = compute_statistics(WarehouseSource(pg_url, ev_tables), None, METRICS,
                                     experiment=EXPERIMENT)
        finally:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    assert_same(got, reference)


@pytest.mark.spark
def test_spark_matches_the_polars_reference(spark: Any, tmp_path: Path) -> None:
    # Smaller than the other engines' data: Spark pays seconds per query plan, and the
    # 200k-unit comparison below (slow) covers the size.
    data = simulated(3_000)
    reference = compute_statistics(*data, METRICS, experiment=EXPERIMENT, engine="polars")
    tables = spark_views(spark, tmp_path, *data, prefix="wh3k")
    got = compute_statistics(WarehouseSource(spark, tables), None, METRICS,
                             experiment=EXPERIMENT)
    assert got.engine == "spark"
    assert_same(got, reference)
    assert got.quality.audit.mismatches > 0 and got.quality.crossover_units > 0
    engine = open_engine(WarehouseSource(spark, tables))
    engine.run(PipelineRequest("shop", 1, plan_metrics(METRICS), None, "first",
                               keep_units=False, audit=EXPERIMENT))
    assert 0 < engine.rows_fetched <= _rows_bound(len(METRICS), 3)


@pytest.mark.spark
def test_golden_hash_vectors_on_spark(spark: Any, tmp_path: Path) -> None:
    from abwb.assignment.sql import bucket_expression

    rows = json.loads((Path(__file__).parents[1] / "vectors" / "hashing_v1.json")
                      .read_text(encoding="utf-8"))["rows"]
    path = tmp_path / "vectors.parquet"
    pl.DataFrame([(r["salt"], r["unit_id"], r["bucket"]) for r in rows], orient="row",
                 schema={"salt": pl.String, "unit_id": pl.String, "bucket": pl.Int32}
                 ).write_parquet(path)
    spark.read.parquet(str(path)).createOrReplaceTempView("abwb_vectors")
    expr = bucket_expression("spark", "salt", "unit_id")
    bad = spark.sql(f"SELECT count(*) FROM abwb_vectors WHERE {expr} <> bucket").collect()[0][0]
    assert len(rows) > 1000 and bad == 0


@pytest.fixture(scope="module")
def data_200k() -> tuple[pl.DataFrame, pl.DataFrame, MetricResults]:
    exposures, events = simulated(200_000)
    want = compute_statistics(exposures, events, METRICS, experiment=EXPERIMENT, engine="polars")
    return exposures, events, want


@pytest.mark.slow
@pytest.mark.integration
def test_200k_units_agree_on_duckdb_and_postgres(
        pg_url: str, data_200k: tuple[pl.DataFrame, pl.DataFrame, MetricResults]) -> None:
    exposures, events, want = data_200k
    assert exposures["unit_id"].n_unique() >= 190_000
    assert_same(compute_statistics(exposures, events, METRICS, experiment=EXPERIMENT), want)
    schema = f"t_wh_{uuid.uuid4().hex[:10]}"
    db = PostgresDatabase(pg_url, schema=schema)
    try:
        load_postgres(db, exposures, events)
        got = compute_statistics(WarehouseSource(db), None, METRICS, experiment=EXPERIMENT)
    finally:
        db.close()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    assert_same(got, want)
    assert want.quality.audit.mismatches > 0 and want.quality.srm is not None


@pytest.mark.slow
@pytest.mark.spark
def test_200k_units_agree_on_spark(
        spark: Any, tmp_path: Path,
        data_200k: tuple[pl.DataFrame, pl.DataFrame, MetricResults]) -> None:
    exposures, events, want = data_200k
    tables = spark_views(spark, tmp_path, exposures, events, prefix="wh200k")
    assert_same(compute_statistics(WarehouseSource(spark, tables), None, METRICS,
                                   experiment=EXPERIMENT), want)
