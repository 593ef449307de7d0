"""Warehouse-native metrics: DuckDB in-process vs PostgreSQL pushdown vs pulling the rows
into polars vs Spark local[2]; time and rows moved to the client. Prints, never asserts.

    .venv/bin/python benchmarks/bench_warehouse.py                      # 1 M exposures, 10 M events
    .venv/bin/python benchmarks/bench_warehouse.py --units 100000 --events 1000000 \
        --engines duckdb,postgres,pull,spark
    .venv/bin/python benchmarks/bench_warehouse.py --files --units 10000000 \
        --events 100000000 --engines duckdb                             # cost growth, 100 M events

``--files`` writes the data as Parquet, events in chunks of ``--chunk`` rows (so 100 M
events never sit in memory at once), into ``--dir`` (default a temporary directory,
removed afterwards); DuckDB then reads the files in-process and Spark reads them as
path-based tables (``parquet.`DIR/events` ``). PostgreSQL and the pull are not offered
there (loading 100 M rows into PostgreSQL alone takes over an hour on this machine).
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import psycopg

from abwb.config import Capping, Experiment, MetricDefinition, Variant
from abwb.events import EVENT_SCHEMA, EXPOSURE_SCHEMA
from abwb.metrics import compute_statistics
from abwb.metrics.engine import PipelineRequest
from abwb.metrics.plan import plan_metrics
from abwb.metrics.sql_query import WarehouseTables
from abwb.metrics.warehouse import WarehouseSource, open_engine, spark_session
from abwb.store import PostgresDatabase
from abwb.store.postgres_events import PostgresEventStore

DAY_US = 86_400_000_000
METRICS = [
    MetricDefinition(key="conv", kind="binomial", event="buy", window_end_s=7 * 86_400),
    MetricDefinition(key="orders", kind="count", event="buy"),
    MetricDefinition(key="rev", kind="sum", event="buy", value_column="value",
                     capping=Capping(percentile=0.99)),
    MetricDefinition(key="rps", kind="ratio", numerator_event="buy",
                     numerator_value_column="value", denominator_event="session"),
    MetricDefinition(key="eng", kind="sum", event="view", value_column="value",
                     cuped_window_s=14 * 86_400),
]
EXPERIMENT = Experiment(key="bench", status="running", variants=[
    Variant("control", 0.5, is_control=True), Variant("treatment", 0.5)])


def exposure_frame(units: int, rng: np.random.Generator) -> pl.DataFrame:
    t0 = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 1_000_000)
    exposed = t0 + rng.integers(0, 14 * DAY_US, units)
    return pl.DataFrame({
        "exposure_id": np.char.add("x", np.arange(units).astype(str)),
        "experiment": "bench", "variant": np.where(rng.random(units) < 0.5, "control", "treatment"),
        "phase": 1, "unit_type": "user", "unit_id": np.char.add("u", np.arange(units).astype(str)),
        "config_version": 1, "exposed_at": exposed}).with_columns(
        pl.col("exposed_at").cast(pl.Datetime("us", "UTC"))).cast(EXPOSURE_SCHEMA)  # type: ignore[arg-type]


def event_frame(exposures: pl.DataFrame, events: int, rng: np.random.Generator, *,
                first_id: int = 0) -> pl.DataFrame:
    """``events`` events of random exposed units, ids from ``first_id``."""
    who = rng.integers(0, exposures.height, events)
    exposed = exposures["exposed_at"].dt.epoch("us").to_numpy()
    names = rng.choice(np.array(["buy", "session", "view"]), events, p=[0.1, 0.5, 0.4])
    return pl.DataFrame({
        "event_id": np.char.add("e", np.arange(first_id, first_id + events).astype(str)),
        "unit_type": "user", "unit_id": exposures["unit_id"].gather(who), "name": names,
        "value": np.round(rng.lognormal(2.0, 1.0, events), 2),
        "occurred_at": exposed[who] + rng.integers(-14 * DAY_US, 21 * DAY_US, events),
        "properties": None}).with_columns(
        pl.col("occurred_at").cast(pl.Datetime("us", "UTC"))).cast(EVENT_SCHEMA)  # type: ignore[arg-type]


def frames(units: int, events: int, seed: int = 1) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    exposures = exposure_frame(units, rng)
    return exposures, event_frame(exposures, events, rng)


def write_files(directory: Path, units: int, events: int, chunk: int, seed: int = 1) -> None:
    """The same kind of data as :func:`frames`, as Parquet: DIR/exposures/, DIR/events/."""
    rng = np.random.default_rng(seed)
    exposures = exposure_frame(units, rng)
    (directory / "exposures").mkdir(parents=True)
    (directory / "events").mkdir()
    exposures.write_parquet(directory / "exposures" / "part-0.parquet")
    for i, first in enumerate(range(0, events, chunk)):
        n = min(chunk, events - first)
        event_frame(exposures, n, rng, first_id=first).write_parquet(
            directory / "events" / f"part-{i:04d}.parquet")


def run_files(args: argparse.Namespace, engines: list[str], request: PipelineRequest) -> None:
    """``--files``: generate Parquet chunk by chunk, then DuckDB and Spark read the files."""
    import shutil

    directory = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bench_wh_"))
    try:
        start = time.perf_counter()
        write_files(directory, args.units, args.events, args.chunk)
        size = sum(f.stat().st_size for f in directory.rglob("*.parquet"))
        print(f"{args.units:,} exposures, {args.events:,} events, {len(METRICS)} metrics; "
              f"Parquet {size / 1e9:.1f} GB written in {time.perf_counter() - start:.0f} s")
        if "duckdb" in engines:
            import duckdb

            # The same generated SQL as the embedded engine, on views over the files, with
            # a memory cap (the machine is shared): DuckDB spills beyond it.
            con = duckdb.connect()
            con.execute(f"SET memory_limit = '{args.duckdb_memory}'")
            con.execute(f"SET temp_directory = '{directory / 'duckdb.tmp'}'")
            for name in ("exposures", "events"):
                con.execute(f"CREATE VIEW {name} AS SELECT * FROM "
                            f"read_parquet('{directory / name / '*.parquet'}')")

            def on_duckdb() -> int:
                engine = open_engine(WarehouseSource(con))
                engine.run(request)
                return engine.rows_fetched
            timed("duckdb (in-process, Parquet)", on_duckdb, lambda n: n)
            con.close()
        if "spark" in engines:
            tables = WarehouseTables(f"parquet.`{directory / 'exposures'}`",
                                     f"parquet.`{directory / 'events'}`")
            spark = spark_session("local[2]")

            def on_spark() -> int:
                engine = open_engine(WarehouseSource(spark, tables))
                engine.run(request)
                return engine.rows_fetched
            timed("spark local[2] (Parquet)", on_spark, lambda n: n)
            spark.stop()
    finally:
        if not args.dir:
            shutil.rmtree(directory, ignore_errors=True)


def timed(label: str, fn, rows_moved) -> None:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    print(f"{label:<28} {elapsed:8.2f} s   rows to client: {rows_moved(result):>12,}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--engines", default="duckdb,postgres,pull,spark")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--files", action="store_true",
                        help="generate Parquet files chunk by chunk (duckdb, spark only)")
    parser.add_argument("--chunk", type=int, default=10_000_000, help="events per file")
    parser.add_argument("--dir", default=None, help="with --files: keep the files here")
    parser.add_argument("--duckdb-memory", default="6GB", help="with --files: DuckDB's cap")
    args = parser.parse_args()
    engines = args.engines.split(",")
    plans = plan_metrics(METRICS)
    request = PipelineRequest("bench", 1, plans, None, "exclude", False, audit=EXPERIMENT)
    if args.files:
        run_files(args, engines, request)
        return
    exposures, events = frames(args.units, args.events)
    print(f"{exposures.height:,} exposures, {events.height:,} events, {len(METRICS)} metrics")
    if "duckdb" in engines:
        timed("duckdb (in-process)",
              lambda: compute_statistics(exposures, events, METRICS, experiment=EXPERIMENT),
              lambda r: 0)
    schema = f"bench_wh_{uuid.uuid4().hex[:8]}"
    if "postgres" in engines or "pull" in engines:
        db = PostgresDatabase(args.pg_url, schema=schema)
        try:
            start = time.perf_counter()
            with db.connect() as conn, conn.cursor() as cur:
                for table, frame in (("exposures", exposures), ("events", events)):
                    buf = io.BytesIO()
                    frame.write_csv(buf, include_header=False)
                    with cur.copy(f"COPY {table} FROM STDIN (FORMAT csv)") as cp:
                        cp.write(buf.getvalue())
                conn.commit()
                conn.execute("ANALYZE exposures")
                conn.execute("ANALYZE events")
                conn.commit()
            print(f"{'(load into PostgreSQL)':<28} {time.perf_counter() - start:8.2f} s")
            store = PostgresEventStore(db)
            if "postgres" in engines:
                def pushdown() -> int:
                    engine = open_engine(WarehouseSource(store))
                    try:
                        engine.run(request)
                    finally:
                        engine.close()
                    return engine.rows_fetched
                timed("postgres pushdown", pushdown, lambda n: n)
            if "pull" in engines:
                def pull() -> int:
                    exp_rows = store.read_exposures(experiment="bench")
                    ev_rows = store.read_events(names=["buy", "session", "view"])
                    compute_statistics(exp_rows, ev_rows, METRICS, experiment=EXPERIMENT,
                                       engine="polars")
                    return int(exp_rows.height + ev_rows.height)
                timed("pull from PG into polars", pull, lambda n: n)
        finally:
            db.close()
            with psycopg.connect(args.pg_url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    if "spark" in engines:
        spark = spark_session("local[2]")
        spark.sparkContext.setLogLevel("ERROR")
        tmp = Path(tempfile.mkdtemp())
        for name, frame in (("exposures", exposures), ("events", events)):
            frame.write_parquet(tmp / f"{name}.parquet")
            spark.read.parquet(str(tmp / f"{name}.parquet")).createOrReplaceTempView(
                f"bench_{name}")

        def on_spark() -> int:
            engine = open_engine(WarehouseSource(spark,
                                                 WarehouseTables("bench_exposures", "bench_events")))
            engine.run(request)
            return engine.rows_fetched
        timed("spark local[2]", on_spark, lambda n: n)
        spark.stop()


if __name__ == "__main__":
    main()
