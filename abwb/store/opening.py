"""Choosing and opening the stores a process uses, from its settings.

What belongs here: :func:`open_stores` (returning the typed :class:`Stores` record,
so nobody reaches into a store for its database) and :func:`open_alert_store`, the one
place that maps ``settings.database.effective_url`` to an implementation (SQLite file
or PostgreSQL), and the error naming the missing ``postgres`` extra.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from abwb.errors import StorageError
from abwb.settings import Settings
from abwb.store.config_objects import SqlConfigStore
from abwb.store.dialect import SqlDatabase
from abwb.store.protocol import EventStore
from abwb.store.sqlite import SqliteConfigStore, SqliteDatabase, sqlite_path
from abwb.store.sqlite_events import SqliteEventStore

if TYPE_CHECKING:
    from abwb.store.alerts import SqlAlertStore
    from abwb.store.api_keys import SqlApiKeyHashStore

__all__ = ["Stores", "open_alert_store", "open_stores"]


@dataclass(frozen=True, slots=True)
class Stores:
    """The stores of one abwb database, sharing its connection(s).

    Attributes:
        config: Config objects, audit log and config version.
        events: Exposures and events.
        alerts: Monitoring alerts.
        api_key_hashes: Hashes of the API keys.
        database: The open database itself (its dialect tells SQLite from PostgreSQL;
            a PostgreSQL one is what a config watcher ``LISTEN`` s on).
    """

    config: SqlConfigStore
    events: EventStore
    alerts: SqlAlertStore
    api_key_hashes: SqlApiKeyHashStore
    database: SqlDatabase

    def close(self) -> None:
        """Close every store (the database closes with the last)."""
        self.config.close()
        self.events.close()
        self.alerts.close()


def open_stores(
    settings: Settings, *, migrate: bool = True, schema: str | None = None
) -> Stores:
    """The stores of ``settings`` (sharing one database).

    Args:
        settings: Process settings; ``database.effective_url`` picks the backend.
        migrate: Apply pending migrations (idempotent); otherwise an outdated schema
            is refused with a message asking for ``abwb migrate``.
        schema: PostgreSQL schema to use (default ``settings.database.schema``);
            ignored for SQLite.

    Returns:
        The :class:`Stores`; close them with :meth:`Stores.close`.

    Raises:
        StorageError: the database cannot be opened, is newer than this build, or the
            ``postgres`` extra is missing.

    Examples:
        >>> import tempfile, pathlib
        >>> from abwb.settings import DatabaseSettings
        >>> home = pathlib.Path(tempfile.mkdtemp())
        >>> stores = open_stores(Settings(database=DatabaseSettings(home=home)))
        >>> type(stores.config).__name__, stores.config.config_version()
        ('SqliteConfigStore', 0)
        >>> stores.close()
    """
    from abwb.store.api_keys import SqlApiKeyHashStore

    db = _open_database(settings, migrate=migrate, schema=schema)
    events: EventStore
    config: SqlConfigStore
    if isinstance(db, SqliteDatabase):
        config, events = SqliteConfigStore(db, owns=True), SqliteEventStore(db, owns=True)
    else:
        from abwb.store.postgres import PostgresConfigStore
        from abwb.store.postgres_events import PostgresEventStore

        config, events = PostgresConfigStore(db, owns=True), PostgresEventStore(db, owns=True)
    return Stores(
        config=config,
        events=events,
        alerts=_alert_store(db, owns=True),
        api_key_hashes=SqlApiKeyHashStore(db),
        database=db,
    )


def open_alert_store(
    settings: Settings, *, migrate: bool = True, schema: str | None = None
) -> SqlAlertStore:
    """The alert store of ``settings`` (the database of the config and event stores).

    Opens its own connection(s); a process that already holds a config or event
    store can share its database with :func:`alert_store_for` instead.

    Args:
        settings: Process settings; ``database.effective_url`` picks the backend.
        migrate: Apply pending migrations (idempotent).
        schema: PostgreSQL schema (default ``settings.database.schema``); ignored for
            SQLite.

    Returns:
        The store; close it when done (that closes its database).

    Raises:
        StorageError: the database cannot be opened or the URL is not supported.

    Examples:
        >>> import tempfile, pathlib
        >>> from abwb.settings import DatabaseSettings
        >>> home = pathlib.Path(tempfile.mkdtemp())
        >>> alerts = open_alert_store(Settings(database=DatabaseSettings(home=home)))
        >>> type(alerts).__name__, alerts.open_alerts()
        ('SqliteAlertStore', [])
        >>> alerts.close()
    """
    db = _open_database(settings, migrate=migrate, schema=schema)
    return _alert_store(db, owns=True)


def _alert_store(db: SqlDatabase, *, owns: bool) -> SqlAlertStore:
    from abwb.store.alerts import PostgresAlertStore, SqliteAlertStore

    if isinstance(db, SqliteDatabase):
        return SqliteAlertStore(db, owns=owns)
    return PostgresAlertStore(db, owns=owns)  # type: ignore[arg-type]  # the other dialect


def _open_database(settings: Settings, *, migrate: bool, schema: str | None) -> Any:
    url = settings.database.effective_url
    if settings.database.is_postgres:
        try:
            from abwb.store.postgres import PostgresDatabase
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise StorageError(
                "ABWB_DATABASE_URL points at PostgreSQL but psycopg is not installed: "
                "install the extra with `pip install 'abwb[postgres]'`"
            ) from exc
        return PostgresDatabase(url, schema=schema or settings.database.schema, migrate=migrate)
    if url.startswith("sqlite:"):
        return SqliteDatabase(sqlite_path(url), migrate=migrate)
    raise StorageError(
        f"unsupported database URL {url.split('@')[-1]!r}: expected sqlite:///path or "
        "postgresql://..."
    )
