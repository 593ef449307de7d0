"""SQLite specifics: migrations, future schemas, persistence, concurrent writers, open_stores."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest

from abwb.config import Experiment, Segment, Variant
from abwb.errors import StorageError, VersionConflict
from abwb.settings import DatabaseSettings, Settings
from abwb.store import (
    LATEST_SCHEMA_VERSION,
    SqliteConfigStore,
    SqliteDatabase,
    SqliteEventStore,
    open_stores,
)
from abwb.store.schema import migrations


def _segment(key: str) -> Segment:
    return Segment(key=key, condition={"attr": "plan", "op": "eq", "value": "pro"})


def test_migrations_applied_twice_are_a_no_op(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "a.db")
    assert db.schema_version() == LATEST_SCHEMA_VERSION
    assert db.migrate() == []
    rows = db.connection().execute("SELECT count(*) FROM schema_version").fetchone()
    assert rows[0] == len(migrations("sqlite"))
    db.close()


def test_a_schema_from_the_future_is_refused_naming_both_versions(tmp_path: Path) -> None:
    SqliteDatabase(tmp_path / "a.db").close()
    conn = sqlite3.connect(tmp_path / "a.db")
    conn.execute("INSERT INTO schema_version VALUES (99, 'future', 0)")
    conn.commit()
    conn.close()
    for migrate in (True, False):
        with pytest.raises(
            StorageError, match=rf"schema version 99, newer .*\({LATEST_SCHEMA_VERSION}\)"
        ):
            SqliteDatabase(tmp_path / "a.db", migrate=migrate)


def test_an_unmigrated_database_asks_for_abwb_migrate(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="run `abwb migrate`"):
        SqliteDatabase(tmp_path / "new.db", migrate=False)


def test_state_survives_reopening(tmp_path: Path) -> None:
    store = SqliteConfigStore(tmp_path / "a.db")
    store.create("segment", _segment("pro"), actor="ana")
    store.close()
    again = SqliteConfigStore(tmp_path / "a.db")
    assert again.get("segment", "pro").version == 1
    assert again.config_version() == 1
    again.close()


def test_open_stores_defaults_to_the_embedded_file_and_shares_it(tmp_path: Path) -> None:
    settings = Settings(database=DatabaseSettings(home=tmp_path / "home"))
    opened = open_stores(settings)
    config, events = opened.config, opened.events
    opened.alerts.close()
    assert isinstance(config, SqliteConfigStore) and isinstance(events, SqliteEventStore)
    assert (tmp_path / "home" / "abwb.db").exists()
    config.create("segment", _segment("pro"), actor="ana")
    config.close()
    assert events.read_events().height == 0  # the shared database outlives the first close
    events.close()
    with pytest.raises(StorageError, match="is closed"):
        events.read_events()


def test_open_stores_rejects_unknown_urls() -> None:
    with pytest.raises(StorageError, match="unsupported database URL 'host/db'"):
        open_stores(Settings(database=DatabaseSettings(url="mysql://user:secret@host/db")))


def test_unreadable_file_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match=r"junk\.db"):
        SqliteDatabase(path)


def test_concurrent_threads_with_optimistic_concurrency(tmp_path: Path) -> None:
    """Eight threads race to update the same experiment from version 1: exactly one wins."""
    store = SqliteConfigStore(tmp_path / "a.db")
    exp = Experiment(
        key="race",
        variants=[
            Variant(key="control", weight=0.5, is_control=True),
            Variant(key="b", weight=0.5),
        ],
    )
    store.create("experiment", exp, actor="ana")
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def writer(i: int) -> None:
        barrier.wait()
        try:
            store.update("experiment", exp, expected_version=1, actor=f"w{i}")
            outcomes.append("won")
        except VersionConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["won"]
    assert store.get("experiment", "race").version == 2
    assert store.config_version() == 2
    store.close()


def _process_writer(path: str, worker: int, count: int) -> None:
    store = SqliteConfigStore(path)
    for i in range(count):
        store.create("segment", _segment(f"w{worker}-{i}"), actor=f"proc{worker}")
    store.close()


@pytest.mark.slow  # starts processes
def test_concurrent_processes_write_without_losing_anything(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    SqliteDatabase(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process_writer, args=(path, w, 25)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = SqliteConfigStore(path)
    assert len(store.list("segment", limit=1000)) == 75
    assert store.config_version() == 75  # every write bumped the counter exactly once
    assert len(store.audit(limit=1000)) == 75
    store.close()


def test_open_stores_is_a_typed_record_over_one_database(tmp_path: Path) -> None:
    stores = open_stores(Settings(database=DatabaseSettings(home=tmp_path / "home")))
    assert stores.database.dialect.name == "sqlite"
    assert stores.config.database is stores.database
    stores.config.create("segment", _segment("pro"), actor="ana")
    stores.api_key_hashes.add("ci", "ab" * 32, ["read"])
    assert [k.name for k in stores.api_key_hashes.active()] == ["ci"]
    assert stores.alerts.open_alerts() == []
    stores.close()
    with pytest.raises(StorageError, match="is closed"):
        stores.events.read_events()
