"""Choosing and opening the stores a process uses, from its settings.

What belongs here: :func:`open_stores` and :func:`open_alert_store`, the one place
that maps ``settings.database.effective_url`` to an implementation (SQLite file or
PostgreSQL), :func:`alert_store_for` (the alert store on the database a config or
event store already uses), and the error naming the missing ``postgres`` extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from abwb.errors import StorageError
from abwb.settings import Settings
from abwb.store.dialect import SqlDatabase, SqlDialect
from abwb.store.protocol import ConfigStore, EventStore
from abwb.store.sqlite import SqliteConfigStore, SqliteDatabase, sqlite_path
from abwb.store.sqlite_events import SqliteEventStore

if TYPE_CHECKING:
    from abwb.store.alerts import SqlAlertStore

__all__ = ["alert_store_for", "open_alert_store", "open_stores"]


def open_stores(
    settings: Settings, *, migrate: bool = True, schema: str | None = None
) -> tuple[ConfigStore, EventStore]:
    """The config and event stores of ``settings`` (sharing one database).

    Args:
        settings: Process settings; ``database.effective_url`` picks the backend.
        migrate: Apply pending migrations (idempotent); otherwise an outdated schema
            is refused with a message asking for ``abwb migrate``.
        schema: PostgreSQL schema to use (default ``settings.database.schema``);
            ignored for SQLite.

    Returns:
        ``(config_store, event_store)``. Close both (the database closes with the last).

    Raises:
        StorageError: the database cannot be opened, is newer than this build, or the
            ``postgres`` extra is missing.

    Examples:
        >>> import tempfile, pathlib
        >>> from abwb.settings import DatabaseSettings
        >>> home = pathlib.Path(tempfile.mkdtemp())
        >>> config, events = open_stores(Settings(database=DatabaseSettings(home=home)))
        >>> type(config).__name__, config.config_version()
        ('SqliteConfigStore', 0)
        >>> config.close(); events.close()
    """
    db = _open_database(settings, migrate=migrate, schema=schema)
    if isinstance(db, SqliteDatabase):
        return SqliteConfigStore(db, owns=True), SqliteEventStore(db, owns=True)
    from abwb.store.postgres import PostgresConfigStore
    from abwb.store.postgres_events import PostgresEventStore

    return PostgresConfigStore(db, owns=True), PostgresEventStore(db, owns=True)


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


def alert_store_for(store: ConfigStore | EventStore) -> SqlAlertStore:
    """The alert store on the database ``store`` already uses (its pool is shared).

    Args:
        store: An SQLite or PostgreSQL config or event store (as from
            :func:`open_stores`).

    Returns:
        The alert store; it keeps the database open until it is closed too.

    Raises:
        StorageError: ``store`` keeps no SQL database (e.g. an in-memory store).
    """
    db: Any = getattr(store, "db", None)
    if not isinstance(getattr(db, "dialect", None), SqlDialect):
        raise StorageError(f"a {type(store).__name__} keeps no SQL database to hold alerts")
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
