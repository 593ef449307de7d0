"""Config and event stores: ports, in-memory, embedded SQLite and PostgreSQL implementations.

PostgreSQL classes are imported on first use, so the core install (without the
``postgres`` extra) can use the SQLite store; so are the alert and API-key adapters,
so importing the stores does not import monitoring.
"""

from typing import Any

from abwb.store.config_objects import SqlConfigStore
from abwb.store.memory import MemoryConfigStore, MemoryEventStore
from abwb.store.opening import Stores, open_alert_store, open_stores
from abwb.store.protocol import (
    KIND_MODELS,
    AuditEntry,
    ConfigStore,
    ConfigTransaction,
    EventStore,
    Kind,
)
from abwb.store.schema import LATEST_SCHEMA_VERSION
from abwb.store.sqlite import SqliteConfigStore, SqliteDatabase
from abwb.store.sqlite_events import SqliteEventStore

__all__ = [
    "KIND_MODELS",
    "LATEST_SCHEMA_VERSION",
    "AuditEntry",
    "ConfigStore",
    "ConfigTransaction",
    "EventStore",
    "Kind",
    "MemoryConfigStore",
    "MemoryEventStore",
    "PostgresAlertStore",
    "PostgresConfigStore",
    "PostgresDatabase",
    "PostgresEventStore",
    "SqlAlertStore",
    "SqlApiKeyHashStore",
    "SqlConfigStore",
    "SqliteAlertStore",
    "SqliteConfigStore",
    "SqliteDatabase",
    "SqliteEventStore",
    "StoredApiKey",
    "Stores",
    "open_alert_store",
    "open_stores",
]

_LAZY = {
    "PostgresAlertStore": "abwb.store.alerts",
    "PostgresConfigStore": "abwb.store.postgres",
    "PostgresDatabase": "abwb.store.postgres",
    "PostgresEventStore": "abwb.store.postgres_events",
    "SqlAlertStore": "abwb.store.alerts",
    "SqlApiKeyHashStore": "abwb.store.api_keys",
    "SqliteAlertStore": "abwb.store.alerts",
    "StoredApiKey": "abwb.store.api_keys",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'abwb.store' has no attribute {name!r}")
