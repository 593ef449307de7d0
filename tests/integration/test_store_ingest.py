"""At-least-once ingestion with retries: 100 k events in, exactly 100 k distinct rows out.

Four client threads send overlapping batches and randomly re-send batches they already
sent (as a client does after a timeout); some batches also repeat ids internally. Every
acknowledged id must be stored, once.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from abwb.events import Event
from abwb.store import EventStore, SqliteEventStore

TOTAL = 100_000
T0 = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.integration),
    ]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    if request.param == "sqlite":
        impl: Any = SqliteEventStore(tmp_path / "ingest.db")
        yield impl
        impl.close()
        return
    from abwb.store import PostgresDatabase, PostgresEventStore

    pg_url = request.getfixturevalue("pg_url")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    db = PostgresDatabase(pg_url, schema=schema)
    yield PostgresEventStore(db)
    db.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _events() -> list[Event]:
    return [
        Event(
            event_id=f"evt-{i:06d}",
            unit_type="user",
            unit_id=f"u{i % 5000}",
            name="purchase" if i % 4 else "click",
            value=float(i % 100) if i % 3 else None,
            occurred_at=T0 + timedelta(milliseconds=i),
        )
        for i in range(TOTAL)
    ]


def test_retried_overlapping_batches_store_every_acknowledged_id_once(store: EventStore) -> None:
    events = _events()
    acknowledged: set[str] = set()
    accepted_total = 0
    lock = threading.Lock()
    errors: list[BaseException] = []

    def client(worker: int) -> None:
        nonlocal accepted_total
        rng = random.Random(worker)
        sent: list[list[Event]] = []
        # Each worker owns a quarter of the ids but its batches spill into the next quarter.
        start, end = worker * TOTAL // 4, (worker + 1) * TOTAL // 4
        cursor = start
        try:
            while cursor < end:
                size = rng.randint(500, 4000)
                batch = events[cursor : min(cursor + size + rng.randint(0, 300), TOTAL)]
                if rng.random() < 0.2:
                    batch = batch + rng.sample(batch, k=min(20, len(batch)))  # in-batch repeats
                cursor += size
                sent.append(batch)
                result = store.append_events(batch)
                with lock:
                    accepted_total += result.accepted
                    acknowledged.update(e.event_id for e in batch)
                if rng.random() < 0.3:  # the client missed the ack and retries an old batch
                    retry = rng.choice(sent)
                    again = store.append_events(retry)
                    with lock:
                        accepted_total += again.accepted
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    frame = store.read_events()
    ids = set(frame["event_id"].to_list())
    assert frame.height == TOTAL == len(ids)
    assert acknowledged <= ids
    assert accepted_total == TOTAL  # accepted counts add up exactly across retries
    assert frame.filter(frame["event_id"] == "evt-000007")["value"].to_list() == [7.0]
