"""One parametrised fixture per port: every implementation runs the same contract suite.

SQLite runs everywhere; PostgreSQL and Redis run against the real local servers
(marked ``integration``), each test in its own schema / key prefix, dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from abwb.access.keys import MemoryApiKeyStore
from abwb.access.stores import SqlApiKeyStore
from abwb.cache import AssignmentCache, MemoryAssignmentCache
from abwb.monitoring.alerts import AlertStore, MemoryAlertStore
from abwb.store import (
    ConfigStore,
    EventStore,
    SqliteAlertStore,
    SqliteConfigStore,
    SqliteDatabase,
    SqliteEventStore,
)
from abwb.store.memory import MemoryConfigStore, MemoryEventStore

BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.integration),
]


@pytest.fixture
def pg_schema(pg_url: str) -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped after the test."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield schema
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _database(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    if backend == "memory":
        return None
    if backend == "sqlite":
        return SqliteDatabase(tmp_path / "abwb.db")
    from abwb.store import PostgresDatabase

    pg_url = request.getfixturevalue("pg_url")
    schema = request.getfixturevalue("pg_schema")
    return PostgresDatabase(pg_url, schema=schema)


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    db = _database(request.param, tmp_path, request)
    yield db
    if db is not None:
        db.close()


@pytest.fixture
def config_store(database: Any) -> Iterator[ConfigStore]:
    if database is None:
        store: ConfigStore = MemoryConfigStore()
    elif isinstance(database, SqliteDatabase):
        store = SqliteConfigStore(database)
    else:
        from abwb.store import PostgresConfigStore

        store = PostgresConfigStore(database)
    yield store
    store.close()


@pytest.fixture
def event_store(database: Any) -> Iterator[EventStore]:
    if database is None:
        store: EventStore = MemoryEventStore()
    elif isinstance(database, SqliteDatabase):
        store = SqliteEventStore(database)
    else:
        from abwb.store import PostgresEventStore

        store = PostgresEventStore(database)
    yield store
    store.close()


@pytest.fixture
def alert_store(database: Any) -> Iterator[AlertStore]:
    if database is None:
        store: AlertStore = MemoryAlertStore()
    elif isinstance(database, SqliteDatabase):
        store = SqliteAlertStore(database)
    else:
        from abwb.store import PostgresAlertStore

        store = PostgresAlertStore(database)
    yield store
    store.close()


@pytest.fixture
def api_key_store(database: Any) -> MemoryApiKeyStore | SqlApiKeyStore:
    """The API's key store: in memory, or on the database next to the config store."""
    return MemoryApiKeyStore() if database is None else SqlApiKeyStore(database)


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("redis", id="redis", marks=pytest.mark.integration),
    ]
)
def make_cache(request: pytest.FixtureRequest) -> Iterator[Callable[[], AssignmentCache]]:
    """A factory of caches (call it inside the test's event loop: async clients bind to it)."""
    if request.param == "memory":
        yield MemoryAssignmentCache
        return
    import redis

    from abwb.cache import RedisAssignmentCache

    url = request.getfixturevalue("redis_url")
    prefix = f"abwbtest:{uuid.uuid4().hex[:12]}:"
    # generous timeouts: the contract is about semantics; production keeps 50 ms
    yield lambda: RedisAssignmentCache(url, prefix=prefix, socket_timeout_s=2.0)
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()
