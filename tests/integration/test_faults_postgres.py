"""PostgreSQL goes away: serve the last snapshot, fail writes clearly, lose nothing acknowledged.

The outage is made by a TCP proxy the test owns in front of the real server: cutting it
drops every connection and refuses new ones, so the shared server is never touched.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from abwb.config import Experiment, Flag, Variant
from abwb.errors import StorageError
from abwb.events import Event
from abwb.snapshot import ConfigSnapshotHolder, ConfigWatcher
from abwb.store import PostgresConfigStore, PostgresDatabase, PostgresEventStore

from ..tcp_proxy import TcpProxy

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # starts a TCP proxy
NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def schema(pg_url: str) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def proxy_url(pg_url: str) -> Iterator[tuple[str, TcpProxy]]:
    proxy, url = TcpProxy.in_front_of(pg_url)
    yield url, proxy
    proxy.close()


def _events(start: int, count: int) -> list[Event]:
    return [
        Event(
            event_id=f"e{i}",
            unit_type="user",
            unit_id=f"u{i}",
            name="purchase",
            value=1.0,
            occurred_at=NOW + timedelta(seconds=i),
        )
        for i in range(start, start + count)
    ]


def test_postgres_outage(proxy_url: tuple[str, TcpProxy], schema: str, tmp_path: Path) -> None:
    url, proxy = proxy_url
    db = PostgresDatabase(url, schema=schema, timeout_s=1.0, connect_timeout_s=2)
    config, events = PostgresConfigStore(db), PostgresEventStore(db)
    config.create(
        "flag",
        Flag(
            key="f",
            type="bool",
            variations={"on": True, "off": False},
            default_variation="off",
            off_variation="off",
        ),
        actor="ana",
    )
    config.create(
        "experiment",
        Experiment(
            key="exp",
            status="running",
            flag_key="f",
            variants=[
                Variant(key="control", weight=0.5, is_control=True),
                Variant(key="b", weight=0.5),
            ],
        ),
        actor="ana",
    )
    snapshot_file = tmp_path / "snapshot.json"
    holder = ConfigSnapshotHolder(snapshot_file=snapshot_file)
    holder.start(config)
    before = {
        f"u{i}": holder.current.assigner.decide("exp", f"u{i}", now=NOW).variant for i in range(500)
    }
    assert events.append_events(_events(0, 1000)).accepted == 1000  # acknowledged

    with ConfigWatcher(holder, config, poll_s=0.1) as watcher:
        proxy.cut()
        # Writes fail fast, with a message saying what failed and where.
        started = time.monotonic()
        with pytest.raises(StorageError, match=r"creating flag 'g' failed on PostgreSQL"):
            config.create(
                "flag",
                Flag(
                    key="g",
                    type="bool",
                    variations={"on": True, "off": False},
                    default_variation="off",
                    off_variation="off",
                ),
                actor="ana",
            )
        with pytest.raises(StorageError, match=r"appending 50 events failed on PostgreSQL"):
            events.append_events(_events(1000, 50))
        assert time.monotonic() - started < 5
        # Assignment keeps answering from the snapshot, identically.
        time.sleep(0.3)
        assert watcher.counters["refresh_failed"] >= 1
        assert {
            u: holder.current.assigner.decide("exp", u, now=NOW).variant for u in before
        } == before

        # A process starting during the outage serves the last-known-good file.
        late_db = PostgresDatabase(url, schema=schema, lazy=True, timeout_s=1.0)
        late = ConfigSnapshotHolder(snapshot_file=snapshot_file)
        snapshot = late.start(PostgresConfigStore(late_db))
        assert (snapshot.source, snapshot.version) == ("file", holder.version)
        assert snapshot.assigner.decide("exp", "u7", now=NOW).variant == before["u7"]

        proxy.restore()
        # The client retries the unacknowledged batch until acknowledged (the pool
        # reconnects with back-off); nothing acknowledged was lost.
        deadline = time.monotonic() + 20
        while True:
            try:
                result = events.append_events(_events(1000, 50))
                break
            except StorageError:
                assert time.monotonic() < deadline, "PostgreSQL did not come back"
                time.sleep(0.2)
        assert result.accepted == 50
        stored = events.read_events()
        assert stored.height == 1050
        assert set(stored["event_id"]) == {f"e{i}" for i in range(1050)}
        # Config written after recovery reaches both holders.
        flag = config.get("flag", "f")
        config.update(
            "flag",
            flag.__class__(
                **{**{f: getattr(flag, f) for f in flag.__struct_fields__}, "killed": True}
            ),
            expected_version=flag.version,
            actor="oncall",
        )
        with ConfigWatcher(late, PostgresConfigStore(late_db), poll_s=0.1):
            assert late.wait_for(3, timeout_s=3)
        assert holder.wait_for(3, timeout_s=3)
    assert holder.current.assigner.decide("exp", "u1", now=NOW).reason.value == "killed"
    late_db.close()
    db.close()


def _flag(key: str) -> Flag:
    return Flag(key=key, type="bool", variations={"on": True, "off": False},
                default_variation="off", off_variation="off")


@pytest.mark.parametrize("fault", ["frozen", "down"])
def test_writes_fail_fast_when_postgres_stops_answering(
    proxy_url: tuple[str, TcpProxy], schema: str, fault: str
) -> None:
    url, proxy = proxy_url
    db = PostgresDatabase(url, schema=schema)  # the defaults: 1 s pool wait, 1 s per transaction
    config = PostgresConfigStore(db)
    config.create("flag", _flag("f"), actor="ana")
    proxy.freeze() if fault == "frozen" else proxy.cut()
    took: list[float] = []
    for i in range(3):
        started = time.monotonic()
        with pytest.raises(StorageError, match=r"creating flag 'g\d' failed on PostgreSQL"):
            config.create("flag", _flag(f"g{i}"), actor="ana")
        took.append(time.monotonic() - started)
    print(f"\nconfig write with PostgreSQL {fault}: StorageError after "
          f"{', '.join(f'{t:.2f}' for t in took)} s (limit 1 s + pool wait)")
    assert max(took) < 2.5  # 1 s deadline, 1 s pool wait; far from the 7.9 s hang of before
    proxy.thaw()
    proxy.restore()
    deadline = time.monotonic() + 20
    while True:  # the pool replaces the cut connections; writes succeed again
        try:
            config.create("flag", _flag("after"), actor="ana")
            break
        except StorageError:
            assert time.monotonic() < deadline, "PostgreSQL writes did not recover"
            time.sleep(0.1)
    assert [f.key for f in config.list("flag")] == ["after", "f"]
    db.close()
