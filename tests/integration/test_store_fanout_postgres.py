"""Config fan-out over PostgreSQL LISTEN/NOTIFY (sent inside each write transaction)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from abwb.config import Segment
from abwb.snapshot import ConfigSnapshotHolder, ConfigWatcher
from abwb.store import PostgresConfigStore, PostgresDatabase

pytestmark = pytest.mark.integration


@pytest.fixture
def schema(pg_url: str) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def test_notify_reaches_every_holder_within_a_second(pg_url: str, schema: str) -> None:
    writer_db = PostgresDatabase(pg_url, schema=schema)
    writer = PostgresConfigStore(writer_db)
    dbs = [PostgresDatabase(pg_url, schema=schema, max_size=2) for _ in range(2)]
    holders = [ConfigSnapshotHolder() for _ in dbs]
    watchers = [
        ConfigWatcher(h, PostgresConfigStore(db), poll_s=60, postgres=db).start()
        for h, db in zip(holders, dbs, strict=True)
    ]
    try:
        for holder in holders:
            assert holder.wait_for(0, timeout_s=2)
        time.sleep(0.3)
        for i in range(1, 4):
            started = time.monotonic()
            writer.create(
                "segment",
                Segment(key=f"s{i}", condition={"attr": "a", "op": "exists"}),
                actor="ana",
            )
            for holder in holders:
                assert holder.wait_for(i, timeout_s=1.0)
            assert time.monotonic() - started < 1.0
        assert all(w.counters["pg_notifies"] >= 3 for w in watchers)
    finally:
        for w in watchers:
            w.stop()
        for db in [*dbs, writer_db]:
            db.close()
