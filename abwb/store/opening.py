"""Choosing and opening the stores a process uses, from its settings.

What belongs here: :func:`open_stores`, the one place that maps
``settings.database.effective_url`` to an implementation (SQLite file or PostgreSQL),
and the error naming the missing ``postgres`` extra.
"""

from __future__ import annotations

from abwb.errors import StorageError
from abwb.settings import Settings
from abwb.store.protocol import ConfigStore, EventStore
from abwb.store.sqlite import SqliteConfigStore, SqliteDatabase, sqlite_path
from abwb.store.sqlite_events import SqliteEventStore

__all__ = ["open_stores"]


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
    url = settings.database.effective_url
    if settings.database.is_postgres:
        try:
            from abwb.store.postgres import PostgresConfigStore, PostgresDatabase
            from abwb.store.postgres_events import PostgresEventStore
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise StorageError(
                "ABWB_DATABASE_URL points at PostgreSQL but psycopg is not installed: "
                "install the extra with `pip install 'abwb[postgres]'`"
            ) from exc
        pg = PostgresDatabase(url, schema=schema or settings.database.schema, migrate=migrate)
        return PostgresConfigStore(pg, owns=True), PostgresEventStore(pg, owns=True)
    if url.startswith("sqlite:"):
        db = SqliteDatabase(sqlite_path(url), migrate=migrate)
        return SqliteConfigStore(db, owns=True), SqliteEventStore(db, owns=True)
    raise StorageError(
        f"unsupported database URL {url.split('@')[-1]!r}: expected sqlite:///path or "
        "postgresql://..."
    )
