"""Embedded SQLite database: the connection/migration layer and :class:`SqliteConfigStore`.

What belongs here: opening an SQLite file safely for several threads and processes
(WAL journal, ``busy_timeout``, ``BEGIN IMMEDIATE`` for writes, one connection per
thread), applying the SQLite migrations, translating ``sqlite3`` errors into
:class:`~abwb.errors.StorageError`, and the SQLite side of the
:class:`~abwb.store.dialect.SqlDatabase` hooks. The config store's SQL is shared with
PostgreSQL in :mod:`abwb.store.config_objects`; :class:`SqliteConfigStore` only opens a
path. The event store is in :mod:`abwb.store.sqlite_events`; all share one
:class:`SqliteDatabase`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

from abwb.errors import StorageError
from abwb.store import documents as docs
from abwb.store.config_objects import Clock, SqlConfigStore
from abwb.store.dialect import SQLITE, SqlDialect
from abwb.store.schema import check_schema_version, migrations

__all__ = ["SqliteConfigStore", "SqliteDatabase", "sqlite_path"]

def _utcnow() -> datetime:
    return datetime.now(UTC)


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///relative`` or ``sqlite:////absolute`` URL.

    Raises:
        StorageError: not an SQLite URL, or an in-memory one (stores must be shareable).

    Examples:
        >>> sqlite_path("sqlite:///.abwb/abwb.db").as_posix()
        '.abwb/abwb.db'
        >>> sqlite_path("sqlite:////tmp/x.db").as_posix()
        '/tmp/x.db'
    """
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise StorageError(f"not an SQLite URL (expected sqlite:///path): {url!r}")
    path = url[len(prefix) :]
    if path == ":memory:":
        raise StorageError("in-memory SQLite is not supported: give a file path")
    return Path(path)


class SqliteDatabase:
    """One SQLite file: per-thread connections, transactions, migrations.

    Args:
        path: The database file (its directory is created).
        migrate: Apply pending migrations on open (idempotent); :attr:`applied` lists them.
        require_latest: Without ``migrate``, refuse a schema older than this build
            (``abwb migrate --check`` turns it off to report the version).
        busy_timeout_s: How long a writer waits for another's lock before failing.
        synchronous: ``FULL`` (default: an acknowledged write survives power loss) or
            ``NORMAL`` (survives process crashes only; faster).

    Raises:
        StorageError: the file cannot be opened, its schema is newer than this build,
            or (with ``migrate=False``) older.
    """

    #: How statements shared with PostgreSQL are written here.
    dialect: SqlDialect = SQLITE

    def __init__(
        self,
        path: str | Path,
        *,
        migrate: bool = True,
        require_latest: bool = True,
        busy_timeout_s: float = 10.0,
        synchronous: str = "FULL",
    ) -> None:
        self.path = Path(path)
        self._busy_ms = int(busy_timeout_s * 1000)
        if synchronous not in ("FULL", "NORMAL"):
            raise StorageError(f"synchronous must be FULL or NORMAL, got {synchronous!r}")
        self._synchronous = synchronous
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self._users = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the directory of {self.path}: {exc}") from exc
        self.applied: list[int] = []
        if migrate:
            self.applied = self.migrate()
        else:
            found = self.schema_version()
            check_schema_version(found, where=str(self.path))
            if require_latest and found < len(migrations("sqlite")):
                raise StorageError(
                    f"database {self.path} has schema version {found}; this abwb needs "
                    f"{len(migrations('sqlite'))}: run `abwb migrate`"
                )

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise StorageError(f"database {self.path} is closed")
        try:
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=self._busy_ms / 1000,
            )
            conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open SQLite database {self.path}: {exc}") from exc
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn

    @contextmanager
    def transaction(
        self, what: str, *, write: bool = True, consistent: bool = False
    ) -> Iterator[sqlite3.Connection]:
        """Run a block in one transaction (``BEGIN IMMEDIATE`` when writing).

        Commits when the block ends normally; rolls back on any exception. ``sqlite3``
        errors come out as :class:`StorageError` naming ``what`` failed. ``consistent``
        needs nothing here: an SQLite transaction reads one snapshot of the file.
        """
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.Error as exc:
            raise StorageError(f"{what}: cannot start a transaction on {self.path}: {exc}") from exc
        try:
            yield conn
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with suppress(sqlite3.Error):
                conn.rollback()
            raise StorageError(f"{what} failed on {self.path}: {exc}") from exc
        except BaseException:
            with suppress(sqlite3.Error):
                conn.rollback()
            raise

    def lock_config(self, conn: sqlite3.Connection) -> None:
        """Nothing to take: ``BEGIN IMMEDIATE`` already holds the file's write lock."""
        if not conn.in_transaction:  # pragma: no cover - transaction() always began one
            raise StorageError("config writes must run inside transaction()")

    def announce_config(self, conn: sqlite3.Connection, version: int) -> None:
        """Nothing to send: SQLite has no notifications (other processes poll)."""

    def schema_version(self) -> int:
        """The applied schema version (0 for a new file)."""
        with self.transaction("reading the schema version", write=False) as conn:
            return _schema_version(conn)

    def migrate(self) -> list[int]:
        """Apply pending migrations, each in its own transaction; returns those applied.

        Raises:
            StorageError: the schema is newer than this build knows.
        """
        applied = []
        for migration in migrations("sqlite"):
            with self.transaction(f"migration {migration.version}") as conn:
                found = _schema_version(conn)
                check_schema_version(found, where=str(self.path))
                if found >= migration.version:
                    continue
                for statement in _statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, docs.to_micros(_utcnow())),
                )
                applied.append(migration.version)
        return applied

    def retain(self) -> None:
        """Register a store sharing this database (see :meth:`release`)."""
        with self._lock:
            self._users += 1

    def release(self) -> None:
        """A sharing store is done; the last one closes the database."""
        with self._lock:
            self._users -= 1
            last = self._users <= 0
        if last:
            self.close()

    def close(self) -> None:
        """Close every thread's connection."""
        self._closed = True
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            with suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()


def _schema_version(conn: sqlite3.Connection) -> int:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
        "name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
    )
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0])


def _statements(script: str) -> Iterator[str]:
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer
            buffer = ""
    if buffer.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in buffer.splitlines()
    ):
        raise StorageError(f"incomplete SQL statement in a migration: {buffer[:80]!r}")


class SqliteConfigStore(SqlConfigStore):
    """Config objects in an SQLite file (the embedded default).

    All of its behaviour is :class:`~abwb.store.config_objects.SqlConfigStore`'s; this
    class only accepts a path as well as an open database.

    Args:
        database: An open :class:`SqliteDatabase` (may be shared with the event store)
            or a path to open.
        clock: Source of ``updated_at`` / audit timestamps.
        owns: Close the database with this store (default: only when given a path; a
            shared database closes when the last owning store closes).

    Examples:
        >>> import tempfile, pathlib
        >>> from abwb.config import Segment
        >>> store = SqliteConfigStore(pathlib.Path(tempfile.mkdtemp()) / "abwb.db")
        >>> beta = Segment(key="beta", condition={"attr": "plan", "op": "eq", "value": "pro"})
        >>> store.create("segment", beta, actor="ana").version
        1
        >>> store.config_version()
        1
        >>> store.close()
    """

    def __init__(
        self, database: SqliteDatabase | str | Path, *, clock: Clock = _utcnow, owns: bool = False
    ) -> None:
        shared = isinstance(database, SqliteDatabase)
        db = database if isinstance(database, SqliteDatabase) else SqliteDatabase(database)
        super().__init__(db, clock=clock, owns=owns or not shared)
