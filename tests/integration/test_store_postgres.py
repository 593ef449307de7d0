"""PostgreSQL store specifics against the real server: migrations, schema guard, SQL hash,
NOTIFY after commit, CLI, config concurrency."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from abwb.assignment.hashing import bucket
from abwb.cli.main import main as cli
from abwb.config import Segment
from abwb.errors import StorageError, VersionConflict
from abwb.settings import DatabaseSettings, Settings
from abwb.store import LATEST_SCHEMA_VERSION, PostgresConfigStore, PostgresDatabase, open_stores

pytestmark = pytest.mark.integration


@pytest.fixture
def schema(pg_url: str) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _segment(key: str) -> Segment:
    return Segment(key=key, condition={"attr": "plan", "op": "eq", "value": "pro"})


def test_migrations_applied_twice_are_a_no_op(pg_url: str, schema: str) -> None:
    first = PostgresDatabase(pg_url, schema=schema)
    assert first.applied == list(range(1, LATEST_SCHEMA_VERSION + 1))
    assert first.migrate() == []
    second = PostgresDatabase(pg_url, schema=schema)
    assert second.applied == []
    assert second.schema_version() == LATEST_SCHEMA_VERSION
    first.close()
    second.close()


def test_concurrent_migrations_apply_once(pg_url: str, schema: str) -> None:
    results: list[list[int]] = []

    def open_one() -> None:
        db = PostgresDatabase(pg_url, schema=schema)
        results.append(db.applied)
        db.close()

    threads = [threading.Thread(target=open_one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [[], [], list(range(1, LATEST_SCHEMA_VERSION + 1))]


def test_a_schema_from_the_future_is_refused(pg_url: str, schema: str) -> None:
    PostgresDatabase(pg_url, schema=schema).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            f"INSERT INTO \"{schema}\".schema_version (version, name) VALUES (42, 'future')"
        )
    for migrate in (True, False):
        with pytest.raises(
            StorageError, match=rf"schema version 42, newer than .*\({LATEST_SCHEMA_VERSION}\)"
        ):
            PostgresDatabase(pg_url, schema=schema, migrate=migrate)


def test_unmigrated_schema_asks_for_abwb_migrate(pg_url: str, schema: str) -> None:
    with pytest.raises(StorageError, match="run `abwb migrate`"):
        PostgresDatabase(pg_url, schema=schema, migrate=False)


def test_cli_migrate_is_idempotent_and_checks(
    pg_url: str, schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["migrate", "--database-url", pg_url, "--schema", schema, "--check"]) == 1
    assert "1 migration(s) pending" in capsys.readouterr().out
    assert cli(["migrate", "--database-url", pg_url, "--schema", schema]) == 0
    assert "applied migration(s) [1]" in capsys.readouterr().out
    assert cli(["migrate", "--database-url", pg_url, "--schema", schema]) == 0
    assert "nothing to apply" in capsys.readouterr().out
    assert cli(["migrate", "--database-url", pg_url, "--schema", schema, "--check"]) == 0


def test_the_sql_bucket_function_matches_python(pg_url: str, schema: str) -> None:
    db = PostgresDatabase(pg_url, schema=schema)
    ids = [f"user-{i}" for i in range(200)] + ["", "ユーザー", "a:b", "x" * 300]
    with db.transaction("hash check") as conn:
        rows = conn.execute(
            "SELECT u, abwb_bucket('checkout:p1', u) FROM unnest(%s::text[]) AS u", (ids,)
        ).fetchall()
    assert {u: b for u, b in rows} == {u: bucket("checkout:p1", u) for u in ids}
    db.close()


def test_config_writes_notify_only_after_commit(pg_url: str, schema: str) -> None:
    db = PostgresDatabase(pg_url, schema=schema)
    store = PostgresConfigStore(db)
    with db.connect(autocommit=True) as listener:
        listener.execute(f'LISTEN "{db.notify_channel}"')
        store.create("segment", _segment("a"), actor="ana")
        with pytest.raises(VersionConflict):
            store.update("segment", _segment("a"), expected_version=9, actor="ana")
        store.update("segment", _segment("a"), expected_version=1, actor="ana")
        payloads = [n.payload for n in listener.notifies(timeout=1.0, stop_after=2)]
    assert payloads == ["1", "2"]  # the rolled-back conflict sent nothing
    store.close()
    db.close()


def test_open_stores_with_a_postgres_url(pg_url: str, schema: str) -> None:
    settings = Settings(database=DatabaseSettings(url=pg_url))
    opened = open_stores(settings, schema=schema)
    config, events = opened.config, opened.events
    opened.alerts.close()
    config.create("segment", _segment("a"), actor="ana")
    assert config.config_version() == 1
    config.close()
    assert events.read_events().height == 0
    events.close()


def test_racing_writers_one_wins(pg_url: str, schema: str) -> None:
    db = PostgresDatabase(pg_url, schema=schema, max_size=8)
    store = PostgresConfigStore(db)
    store.create("segment", _segment("race"), actor="ana")
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def writer() -> None:
        barrier.wait()
        try:
            store.update("segment", _segment("race"), expected_version=1, actor="w")
            outcomes.append("won")
        except VersionConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=writer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 5 + ["won"]
    assert store.config_version() == 2
    db.close()


def test_unreachable_postgres_is_a_clear_storage_error() -> None:
    with pytest.raises(StorageError, match=r"127\.0\.0\.1:1/nope \(schema public\)") as info:
        PostgresDatabase("postgresql://app:secret@127.0.0.1:1/nope", connect_timeout_s=1)
    assert "secret" not in str(info.value)
