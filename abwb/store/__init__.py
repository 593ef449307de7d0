"""Config and event stores: ports, in-memory, embedded SQLite and PostgreSQL implementations.

PostgreSQL classes are imported on first use, so the core install (without the
``postgres`` extra) can use the SQLite store.
"""

from typing import Any

from abwb.store.memory import MemoryConfigStore, MemoryEventStore
from abwb.store.opening import open_stores
from abwb.store.protocol import KIND_MODELS, AuditEntry, ConfigStore, EventStore, Kind
from abwb.store.schema import LATEST_SCHEMA_VERSION
from abwb.store.sqlite import SqliteConfigStore, SqliteDatabase
from abwb.store.sqlite_events import SqliteEventStore

__all__ = [
    "KIND_MODELS",
    "LATEST_SCHEMA_VERSION",
    "AuditEntry",
    "ConfigStore",
    "EventStore",
    "Kind",
    "MemoryConfigStore",
    "MemoryEventStore",
    "PostgresConfigStore",
    "PostgresDatabase",
    "PostgresEventStore",
    "SqliteConfigStore",
    "SqliteDatabase",
    "SqliteEventStore",
    "open_stores",
]

_POSTGRES = {
    "PostgresConfigStore": "abwb.store.postgres",
    "PostgresDatabase": "abwb.store.postgres",
    "PostgresEventStore": "abwb.store.postgres_events",
}


def __getattr__(name: str) -> Any:
    if name in _POSTGRES:
        import importlib

        return getattr(importlib.import_module(_POSTGRES[name]), name)
    raise AttributeError(f"module 'abwb.store' has no attribute {name!r}")
