"""Store benchmarks: ingest rate, 1 M-event loads into polars, Redis sticky latency, fan-out.

Run: .venv/bin/python benchmarks/bench_store.py [--rows 1000000]
Uses the local PostgreSQL / Redis (ABWB_TEST_DATABASE_URL / ABWB_TEST_REDIS_URL) in a
throw-away schema / key prefix; prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import redis

from abwb.cache import RedisAssignmentCache
from abwb.config import Segment
from abwb.events import Event
from abwb.snapshot import (
    ConfigSnapshotHolder,
    ConfigWatcher,
    PublishingConfigStore,
    RedisConfigPublisher,
)
from abwb.store import (
    PostgresConfigStore,
    PostgresDatabase,
    PostgresEventStore,
    SqliteConfigStore,
    SqliteEventStore,
)

PG_URL = os.environ.get("ABWB_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("ABWB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
BATCH = 10_000


def make_events(start: int, count: int) -> list[Event]:
    return [
        Event(
            event_id=f"e{i:08d}",
            unit_type="user",
            unit_id=f"u{i % 100_000}",
            name="purchase" if i % 3 else "click",
            value=float(i % 97) if i % 2 else None,
            occurred_at=T0 + timedelta(milliseconds=i),
        )
        for i in range(start, start + count)
    ]


def ingest(store: object, events: list[Event]) -> float:
    started = time.perf_counter()
    for i in range(0, len(events), BATCH):
        store.append_events(events[i : i + BATCH])  # type: ignore[attr-defined]
    return len(events) / (time.perf_counter() - started)


def load_seconds(store: object) -> tuple[float, int]:
    started = time.perf_counter()
    frame = store.read_events()  # type: ignore[attr-defined]
    return time.perf_counter() - started, frame.height


def segment(i: int) -> Segment:
    return Segment(key=f"s{i}", condition={"attr": "plan", "op": "eq", "value": "pro"})


def fanout_ms(write, holder: ConfigSnapshotHolder, rounds: int = 10) -> list[float]:
    out = []
    for i in range(rounds):
        target = holder.version + 1
        started = time.perf_counter()
        write(i)
        holder.wait_for(target, timeout_s=5)
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    t = time.perf_counter()
    events = make_events(0, args.rows)
    print(f"built {args.rows:,} validated Event structs in {time.perf_counter() - t:.1f} s")
    sample = events[:100_000]
    tmp = Path(tempfile.mkdtemp())
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        # --- SQLite -------------------------------------------------------------------
        sqlite = SqliteEventStore(tmp / "bench.db")
        rate = ingest(sqlite, events)
        print(
            f"SQLite ingest (executemany INSERT OR IGNORE, {BATCH:,}/batch, synchronous=FULL): "
            f"{rate:,.0f} events/s"
        )
        for attempt in ("first", "second"):
            secs, n = load_seconds(sqlite)
            print(f"SQLite load {n:,} events into polars ({attempt} read): {secs:.2f} s")
        sqlite.close()

        # --- PostgreSQL ---------------------------------------------------------------
        db = PostgresDatabase(PG_URL, schema=schema)
        copy_store = PostgresEventStore(db, method="copy")
        insert_store = PostgresEventStore(db, method="insert")
        rate_insert = ingest(insert_store, make_events(10_000_000, len(sample)))
        with db.transaction("truncate") as conn:
            conn.execute("TRUNCATE events")
        rate_copy_sample = ingest(copy_store, make_events(10_000_000, len(sample)))
        with db.transaction("truncate") as conn:
            conn.execute("TRUNCATE events")
        print(
            f"PostgreSQL ingest {len(sample):,}: COPY+staging {rate_copy_sample:,.0f} events/s vs "
            f"INSERT executemany {rate_insert:,.0f} events/s"
        )
        rate_copy = ingest(copy_store, events)
        print(f"PostgreSQL ingest {len(events):,} via COPY: {rate_copy:,.0f} events/s")
        for attempt in ("first, sets hint bits", "second"):
            secs, n = load_seconds(copy_store)
            print(f"PostgreSQL load {n:,} events into polars (COPY TO csv; {attempt}): {secs:.2f} s")
        dup = copy_store.append_events(events[:BATCH])
        print(
            f"PostgreSQL re-sent batch of {BATCH:,}: accepted={dup.accepted} duplicates={dup.duplicates}"
        )

        # --- Redis sticky lookups ----------------------------------------------------
        prefix = f"abwbbench:{uuid.uuid4().hex[:8]}:"

        async def sticky() -> list[float]:
            cache = RedisAssignmentCache(REDIS_URL, prefix=prefix)
            for i in range(1000):
                await cache.set_sticky(
                    "user", f"u{i}", {"exp/p1": "treatment", "other/p2": "control"}
                )
            lat = []
            for i in range(10_000):
                started = time.perf_counter()
                await cache.get_sticky("user", f"u{i % 1000}")
                lat.append((time.perf_counter() - started) * 1e6)
            await cache.purge()
            await cache.close()
            return lat

        lat = sorted(asyncio.run(sticky()))
        print(
            f"Redis get_sticky: p50 {lat[len(lat) // 2]:.0f} µs, p99 {lat[int(len(lat) * 0.99)]:.0f} µs, "
            f"mean {statistics.fmean(lat):.0f} µs"
        )

        # --- Snapshot fan-out -----------------------------------------------------------
        channel = f"abwbbench:config:{uuid.uuid4().hex[:8]}"
        writer = PublishingConfigStore(
            SqliteConfigStore(tmp / "cfg.db"), RedisConfigPublisher(REDIS_URL, channel=channel)
        )
        reader = SqliteConfigStore(tmp / "cfg.db")
        holder = ConfigSnapshotHolder()
        with ConfigWatcher(holder, reader, poll_s=60, redis_url=REDIS_URL, channel=channel):
            holder.wait_for(0, 5)
            time.sleep(0.3)
            ms = fanout_ms(lambda i: writer.create("segment", segment(i), actor="bench"), holder)
        print(
            f"fan-out Redis pub/sub (SQLite store): median {statistics.median(ms):.1f} ms, "
            f"max {max(ms):.1f} ms"
        )
        writer.close()
        reader.close()

        pg_config = PostgresConfigStore(db)
        listener_db = PostgresDatabase(PG_URL, schema=schema, max_size=2)
        holder = ConfigSnapshotHolder()
        with ConfigWatcher(
            holder, PostgresConfigStore(listener_db), poll_s=60, postgres=listener_db
        ):
            holder.wait_for(0, 5)
            time.sleep(0.3)
            ms = fanout_ms(lambda i: pg_config.create("segment", segment(i), actor="bench"), holder)
        print(
            f"fan-out PostgreSQL NOTIFY: median {statistics.median(ms):.1f} ms, max {max(ms):.1f} ms"
        )
        listener_db.close()

        reader = SqliteConfigStore(tmp / "poll.db")
        holder = ConfigSnapshotHolder()
        with ConfigWatcher(holder, reader, poll_s=0.5):
            holder.wait_for(0, 5)
            ms = fanout_ms(lambda i: reader.create("segment", segment(i), actor="bench"), holder, 5)
        print(
            f"fan-out by polling only (poll_s=0.5): median {statistics.median(ms):.0f} ms, "
            f"max {max(ms):.0f} ms"
        )
        reader.close()
        db.close()
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        client = redis.Redis.from_url(REDIS_URL)
        client.close()


if __name__ == "__main__":
    main()
