"""Embedded SQLite store: the connection/migration layer and :class:`SqliteConfigStore`.

What belongs here: opening an SQLite file safely for several threads and processes
(WAL journal, ``busy_timeout``, ``BEGIN IMMEDIATE`` for writes, one connection per
thread), applying the SQLite migrations, translating ``sqlite3`` errors into
:class:`~abwb.errors.StorageError`, and the config store. The event store is in
:mod:`abwb.store.sqlite_events`; both can share one :class:`SqliteDatabase`.
"""

from __future__ import annotations

import builtins
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from abwb.config.bundle import ConfigBundle
from abwb.errors import StorageError
from abwb.store import documents as docs
from abwb.store.dialect import SQLITE, SqlDialect
from abwb.store.protocol import KIND_SECTIONS, AuditEntry, Kind
from abwb.store.schema import check_schema_version, migrations

__all__ = ["SqliteConfigStore", "SqliteDatabase", "sqlite_path"]

Clock = Callable[[], datetime]


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
    def transaction(self, what: str, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """Run a block in one transaction (``BEGIN IMMEDIATE`` when writing).

        Commits when the block ends normally; rolls back on any exception. ``sqlite3``
        errors come out as :class:`StorageError` naming ``what`` failed.
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


class SqliteConfigStore:
    """Config objects in an SQLite file (the embedded default).

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
        self.db = database if isinstance(database, SqliteDatabase) else SqliteDatabase(database)
        self._owns = owns or not isinstance(database, SqliteDatabase)
        if self._owns:
            self.db.retain()
        self._clock = clock

    def load_bundle(self) -> ConfigBundle:
        """Every object as one consistent bundle (read in one transaction)."""
        sections: dict[str, list[Any]] = {s: [] for s in KIND_SECTIONS.values()}
        with self.db.transaction("loading the config bundle", write=False) as conn:
            version = _config_version(conn)
            rows = conn.execute(
                "SELECT kind, doc FROM config_objects ORDER BY kind, key"
            ).fetchall()
        for kind, doc in rows:
            if kind in KIND_SECTIONS:
                sections[KIND_SECTIONS[kind]].append(docs.decode_doc(kind, doc))
        return ConfigBundle(**sections, version=version)

    def config_version(self) -> int:
        """The global config version."""
        with self.db.transaction("reading the config version", write=False) as conn:
            return _config_version(conn)

    def get(self, kind: Kind, key: str) -> Any:
        """The object ``key`` of ``kind``.

        Raises:
            NotFound: no such object.
        """
        docs.check_kind(kind)
        with self.db.transaction(f"reading {kind} {key!r}", write=False) as conn:
            row = conn.execute(
                "SELECT doc FROM config_objects WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
        if row is None:
            raise docs.not_found(kind, key)
        return docs.decode_doc(kind, row[0])

    def list(
        self, kind: Kind, *, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Any]:
        """Objects of ``kind`` ordered by key, optionally filtered by ``status``."""
        docs.check_kind(kind)
        docs.check_page(limit, offset)
        sql = "SELECT doc FROM config_objects WHERE kind = ?"
        params: list[Any] = [kind]
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        sql += " ORDER BY key LIMIT ? OFFSET ?"
        with self.db.transaction(f"listing {kind}s", write=False) as conn:
            rows = conn.execute(sql, [*params, limit, offset]).fetchall()
        return [docs.decode_doc(kind, r[0]) for r in rows]

    def create(self, kind: Kind, obj: Any, *, actor: str, reason: str = "") -> Any:
        """Store a new object; returns it with ``version=1``.

        Raises:
            Conflict: the key exists.
            InvalidInput: wrong type for ``kind`` or empty ``actor``.
        """
        docs.check_object(kind, obj)
        docs.check_actor(actor)
        stored = docs.with_version(obj, 1)
        doc = docs.encode_doc(stored)
        now = docs.to_micros(self._clock())
        with self.db.transaction(f"creating {kind} {obj.key!r}") as conn:
            if conn.execute(
                "SELECT 1 FROM config_objects WHERE kind = ? AND key = ?", (kind, obj.key)
            ).fetchone():
                raise docs.already_exists(kind, obj.key)
            conn.execute(
                "INSERT INTO config_objects (kind, key, status, phase, version, has_run, doc, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)",
                (
                    kind,
                    obj.key,
                    getattr(obj, "status", None),
                    getattr(obj, "phase", None),
                    docs.has_run(kind, obj),
                    doc.decode(),
                    now,
                    now,
                ),
            )
            self._audit(conn, actor, "create", kind, obj.key, reason, None, doc, now)
        return stored

    def update(
        self, kind: Kind, obj: Any, *, expected_version: int, actor: str, reason: str = ""
    ) -> Any:
        """Replace an object; returns it with its new version.

        Raises:
            NotFound: no such object.
            VersionConflict: its version is not ``expected_version``.
        """
        docs.check_object(kind, obj)
        docs.check_actor(actor)
        stored = docs.with_version(obj, expected_version + 1)
        doc = docs.encode_doc(stored)
        now = docs.to_micros(self._clock())
        with self.db.transaction(f"updating {kind} {obj.key!r}") as conn:
            before, ran = self._current(conn, kind, obj.key, expected_version)
            conn.execute(
                "UPDATE config_objects SET status = ?, phase = ?, version = ?, has_run = ?, "
                "doc = ?, updated_at = ? WHERE kind = ? AND key = ?",
                (
                    getattr(obj, "status", None),
                    getattr(obj, "phase", None),
                    expected_version + 1,
                    docs.has_run(kind, obj, before=ran),
                    doc.decode(),
                    now,
                    kind,
                    obj.key,
                ),
            )
            self._audit(conn, actor, "update", kind, obj.key, reason, before, doc, now)
        return stored

    def delete(
        self, kind: Kind, key: str, *, expected_version: int, actor: str, reason: str = ""
    ) -> None:
        """Delete an object; an experiment that has ever run is archived instead.

        Raises:
            NotFound: no such object.
            VersionConflict: its version is not ``expected_version``.
        """
        docs.check_kind(kind)
        docs.check_actor(actor)
        now = docs.to_micros(self._clock())
        with self.db.transaction(f"deleting {kind} {key!r}") as conn:
            before, ran = self._current(conn, kind, key, expected_version)
            if ran:
                archived = msgspec.structs.replace(
                    docs.decode_doc(kind, before), status="archived", version=expected_version + 1
                )
                doc = docs.encode_doc(archived)
                conn.execute(
                    "UPDATE config_objects SET status = 'archived', version = ?, doc = ?, "
                    "updated_at = ? WHERE kind = ? AND key = ?",
                    (expected_version + 1, doc.decode(), now, kind, key),
                )
                self._audit(conn, actor, "archive", kind, key, reason, before, doc, now)
            else:
                conn.execute("DELETE FROM config_objects WHERE kind = ? AND key = ?", (kind, key))
                self._audit(conn, actor, "delete", kind, key, reason, before, None, now)

    def audit(
        self, *, kind: Kind | None = None, key: str | None = None, limit: int = 100
    ) -> builtins.list[AuditEntry]:
        """Recorded changes, newest first, optionally of one kind / key."""
        if kind is not None:
            docs.check_kind(kind)
        docs.check_page(limit)
        sql = (
            "SELECT actor, action, kind, key, reason, before, after, config_version, at "
            "FROM audit_log WHERE 1 = 1"
        )
        params: list[Any] = []
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        if key is not None:
            sql += " AND key = ?"
            params.append(key)
        sql += " ORDER BY id DESC LIMIT ?"
        with self.db.transaction("reading the audit log", write=False) as conn:
            rows = conn.execute(sql, [*params, limit]).fetchall()
        return [
            AuditEntry(
                actor=r[0],
                action=r[1],
                kind=r[2],
                key=r[3],
                reason=r[4],
                before=None if r[5] is None else msgspec.json.decode(r[5]),
                after=None if r[6] is None else msgspec.json.decode(r[6]),
                config_version=r[7],
                at=docs.from_micros(r[8]),
            )
            for r in rows
        ]

    def close(self) -> None:
        """Release the database if this store owns it (idempotent)."""
        if self._owns:
            self._owns = False
            self.db.release()

    def _current(
        self, conn: sqlite3.Connection, kind: str, key: str, expected: int
    ) -> tuple[bytes, bool]:
        row = conn.execute(
            "SELECT version, has_run, doc FROM config_objects WHERE kind = ? AND key = ?",
            (kind, key),
        ).fetchone()
        if row is None:
            raise docs.not_found(kind, key)
        if row[0] != expected:
            raise docs.stale_version(kind, key, expected, row[0])
        doc = row[2]
        return (doc.encode() if isinstance(doc, str) else doc), bool(row[1])

    @staticmethod
    def _audit(
        conn: sqlite3.Connection,
        actor: str,
        action: str,
        kind: str,
        key: str,
        reason: str,
        before: bytes | None,
        after: bytes | None,
        now: int,
    ) -> None:
        version = conn.execute(
            "UPDATE config_meta SET config_version = config_version + 1 WHERE id = 1 "
            "RETURNING config_version"
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO audit_log (actor, action, kind, key, reason, before, after, "
            "config_version, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                actor,
                action,
                kind,
                key,
                reason,
                None if before is None else before.decode(),
                None if after is None else after.decode(),
                version,
                now,
            ),
        )


def _config_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT config_version FROM config_meta WHERE id = 1").fetchone()[0])
