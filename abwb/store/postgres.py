"""PostgreSQL store: the pooled connection/migration layer and :class:`PostgresConfigStore`.

What belongs here: a ``psycopg_pool`` pool pinned to one schema (``search_path``),
migrations applied under an advisory lock, translation of every psycopg / pool error
into :class:`~abwb.errors.StorageError` naming what failed, and the config store.
Each config write is one transaction with its audit row, the bump of
``config_version`` and a ``pg_notify('abwb_config', version)`` that PostgreSQL
delivers to listeners only when the transaction commits. Events live in
:mod:`abwb.store.postgres_events`.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import msgspec
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from abwb.config.bundle import ConfigBundle
from abwb.errors import InvalidInput, StorageError
from abwb.store import documents as docs
from abwb.store.dialect import POSTGRES, SqlDialect
from abwb.store.protocol import KIND_SECTIONS, AuditEntry, Kind
from abwb.store.schema import check_schema_version, migrations

__all__ = [
    "NOTIFY_CHANNEL",
    "PostgresConfigStore",
    "PostgresDatabase",
    "redact_url",
    "reset_schema",
]

#: LISTEN/NOTIFY channel carrying the new config version after every config write
#: (``abwb_config_<schema>`` outside the ``public`` schema, so schemas do not mix).
NOTIFY_CHANNEL = "abwb_config"
_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def redact_url(url: str) -> str:
    """``url`` with any password removed, for messages and logs.

    Examples:
        >>> redact_url("postgresql://app:s3cret@db:5432/abwb")
        'postgresql://app@db:5432/abwb'
    """
    return re.sub(r"(//[^:/@]+):[^@]*@", r"\1@", url)


def reset_schema(url: str, schema: str) -> None:
    """Drop and re-create ``schema`` (everything in it is lost): for demos and tests.

    Raises:
        InvalidInput: ``schema`` is ``public`` or not a lowercase SQL identifier.
        StorageError: PostgreSQL refused or cannot be reached.
    """
    if schema == "public" or not _SCHEMA.match(schema):
        raise InvalidInput(
            f"must be a lowercase SQL identifier other than 'public', got {schema!r}",
            path="schema",
        )
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    except psycopg.Error as exc:
        raise StorageError(f"cannot reset schema {schema!r} on {redact_url(url)}: {exc}") from exc


class PostgresDatabase:
    """A connection pool on one PostgreSQL database and schema.

    Args:
        url: ``postgresql://...`` conninfo.
        schema: Schema holding abwb's tables (created if missing); lets tests and
            tenants isolate themselves.
        migrate: Apply pending migrations on open (idempotent, under an advisory lock);
            :attr:`applied` lists them.
        require_latest: Without ``migrate``, refuse a schema older than this build.
        lazy: Do not touch PostgreSQL when opening (no migration; the schema version
            is checked on first use). Lets a process start from its last-known-good
            snapshot while PostgreSQL is down; the pool connects once it is back.
        min_size: Connections kept open.
        max_size: Most connections opened.
        timeout_s: Longest wait for a connection before a request fails with
            :class:`StorageError` (keeps writes fast-failing while PostgreSQL is down).
        connect_timeout_s: TCP connect timeout of each new connection.

    Raises:
        StorageError: PostgreSQL cannot be reached, the schema name is invalid, or the
            schema version is newer than this build (or older with ``migrate=False``).
    """

    #: How statements shared with SQLite are written here.
    dialect: SqlDialect = POSTGRES

    def __init__(
        self,
        url: str,
        *,
        schema: str = "public",
        migrate: bool = True,
        require_latest: bool = True,
        lazy: bool = False,
        min_size: int = 1,
        max_size: int = 8,
        timeout_s: float = 5.0,
        connect_timeout_s: int = 3,
    ) -> None:
        if not _SCHEMA.match(schema):
            raise StorageError(
                f"schema must be a lowercase SQL identifier ([a-z_][a-z0-9_]*), got {schema!r}"
            )
        self.url = url
        self.schema = schema
        self.where = f"{redact_url(url)} (schema {schema})"
        try:
            conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise StorageError(f"invalid PostgreSQL URL {redact_url(url)!r}: {exc}") from exc
        self.connect_kwargs: dict[str, Any] = {
            "options": f"-c search_path={schema}",
            "connect_timeout": connect_timeout_s,
            "application_name": "abwb",
        }
        self.notify_channel = NOTIFY_CHANNEL if schema == "public" else f"{NOTIFY_CHANNEL}_{schema}"
        self._users = 0
        self.applied: list[int] = []
        self._require_latest = require_latest
        self._verified = False
        if migrate and not lazy:
            self.applied = self.migrate()
        self.pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs=self.connect_kwargs,
            timeout=timeout_s,
            # A connection broken by an outage is noticed at checkout, not by a request.
            check=ConnectionPool.check_connection,
            open=False,
            name=f"abwb-{schema}",
        )
        self.pool.open(wait=False)
        if not lazy:
            try:
                self._verify()
            except StorageError:
                self.pool.close()
                raise

    def _verify(self) -> None:
        """Refuse a schema newer than this build (or older, when ``require_latest``)."""
        self._verified = True
        try:
            found = self.schema_version()
        except StorageError:
            self._verified = False
            raise
        try:
            check_schema_version(found, where=self.where)
            if self._require_latest and found < len(migrations("postgres")):
                raise StorageError(
                    f"database {self.where} has schema version {found}; this abwb needs "
                    f"{len(migrations('postgres'))}: run `abwb migrate`"
                )
        except StorageError:
            self._verified = False
            raise

    def connect(self, *, autocommit: bool = False) -> psycopg.Connection[Any]:
        """A dedicated (unpooled) connection on the schema, e.g. for ``LISTEN``.

        Raises:
            StorageError: PostgreSQL cannot be reached.
        """
        try:
            return psycopg.connect(self.url, autocommit=autocommit, **self.connect_kwargs)
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to PostgreSQL {self.where}: {exc}") from exc

    @contextmanager
    def transaction(
        self, what: str, *, write: bool = True
    ) -> Iterator[psycopg.Connection[Any]]:
        """Run a block in one transaction on a pooled connection.

        Commits when the block ends normally, rolls back on any exception; psycopg and
        pool errors come out as :class:`StorageError` naming ``what`` failed. ``write``
        is accepted for symmetry with :meth:`SqliteDatabase.transaction
        <abwb.store.sqlite.SqliteDatabase.transaction>`: PostgreSQL takes its row
        locks as the statements run, so read and write transactions start alike.
        """
        if not self._verified:
            self._verify()
        try:
            with self.pool.connection() as conn, conn.transaction():
                yield conn
        except psycopg.Error as exc:
            raise StorageError(f"{what} failed on PostgreSQL {self.where}: {exc}") from exc

    def schema_version(self) -> int:
        """The applied schema version (0 for an empty schema)."""
        with self.transaction("reading the schema version") as conn:
            row = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
            if not row or not row[0]:
                return 0
            found = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
            return int(found[0]) if found else 0

    def migrate(self) -> list[int]:
        """Apply pending migrations in one transaction; returns the versions applied.

        Raises:
            StorageError: unreachable, or the schema is newer than this build knows.
        """
        applied: list[int] = []
        with self.connect() as conn:
            try:
                with conn.transaction():
                    conn.execute(
                        "SELECT pg_advisory_xact_lock(hashtext(%s))",
                        (f"abwb-migrate:{self.schema}",),
                    )
                    conn.execute(
                        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                            sql.Identifier(self.schema)
                        )
                    )
                    conn.execute(
                        "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, "
                        "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
                    )
                    row = conn.execute(
                        "SELECT coalesce(max(version), 0) FROM schema_version"
                    ).fetchone()
                    found = int(row[0]) if row else 0
                    check_schema_version(found, where=self.where)
                    for migration in migrations("postgres"):
                        if migration.version <= found:
                            continue
                        conn.execute(migration.sql.encode())
                        conn.execute(
                            "INSERT INTO schema_version (version, name) VALUES (%s, %s)",
                            (migration.version, migration.name),
                        )
                        applied.append(migration.version)
            except psycopg.Error as exc:
                raise StorageError(f"migrating {self.where} failed: {exc}") from exc
        return applied

    def retain(self) -> None:
        """Register a store sharing this database (see :meth:`release`)."""
        self._users += 1

    def release(self) -> None:
        """A sharing store is done; the last one closes the pool."""
        self._users -= 1
        if self._users <= 0:
            self.close()

    def close(self) -> None:
        """Close the pool."""
        self.pool.close()


class PostgresConfigStore:
    """Config objects in PostgreSQL (production).

    Args:
        database: An open :class:`PostgresDatabase` (may be shared with the event store).
        clock: Source of ``updated_at`` / audit timestamps.
        owns: Close the database when this store closes (the last owner closes it).
    """

    def __init__(
        self, database: PostgresDatabase, *, clock: Clock = _utcnow, owns: bool = False
    ) -> None:
        self.db = database
        self._owns = owns
        if owns:
            database.retain()
        self._clock = clock

    def load_bundle(self) -> ConfigBundle:
        """Every object as one consistent bundle (one REPEATABLE READ snapshot)."""
        sections: dict[str, list[Any]] = {s: [] for s in KIND_SECTIONS.values()}
        with self.db.transaction("loading the config bundle") as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            version = _config_version(conn)
            rows = conn.execute(
                "SELECT kind, doc::text FROM config_objects ORDER BY kind, key"
            ).fetchall()
        for kind, doc in rows:
            if kind in KIND_SECTIONS:
                sections[KIND_SECTIONS[kind]].append(docs.decode_doc(kind, doc))
        return ConfigBundle(**sections, version=version)

    def config_version(self) -> int:
        """The global config version."""
        with self.db.transaction("reading the config version") as conn:
            return _config_version(conn)

    def get(self, kind: Kind, key: str) -> Any:
        """The object ``key`` of ``kind``.

        Raises:
            NotFound: no such object.
        """
        docs.check_kind(kind)
        with self.db.transaction(f"reading {kind} {key!r}") as conn:
            row = conn.execute(
                "SELECT doc::text FROM config_objects WHERE kind = %s AND key = %s", (kind, key)
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
        query = "SELECT doc::text FROM config_objects WHERE kind = %s"
        params: list[Any] = [kind]
        if status is not None:
            query += " AND status = %s"
            params.append(status)
        query += " ORDER BY key LIMIT %s OFFSET %s"
        with self.db.transaction(f"listing {kind}s") as conn:
            rows = conn.execute(query.encode(), [*params, limit, offset]).fetchall()
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
        doc = docs.encode_doc(stored).decode()
        now = self._clock()
        with self.db.transaction(f"creating {kind} {obj.key!r}") as conn:
            inserted = conn.execute(
                "INSERT INTO config_objects (kind, key, status, phase, version, has_run, doc, "
                "created_at, updated_at) VALUES (%s, %s, %s, %s, 1, %s, %s::jsonb, %s, %s) "
                "ON CONFLICT (kind, key) DO NOTHING",
                (
                    kind,
                    obj.key,
                    getattr(obj, "status", None),
                    getattr(obj, "phase", None),
                    docs.has_run(kind, obj),
                    doc,
                    now,
                    now,
                ),
            ).rowcount
            if not inserted:
                raise docs.already_exists(kind, obj.key)
            _audit(
                conn, self.db.notify_channel, actor, "create", kind, obj.key, reason, None, doc, now
            )
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
        doc = docs.encode_doc(stored).decode()
        now = self._clock()
        with self.db.transaction(f"updating {kind} {obj.key!r}") as conn:
            before, ran = _current(conn, kind, obj.key, expected_version)
            conn.execute(
                "UPDATE config_objects SET status = %s, phase = %s, version = %s, has_run = %s, "
                "doc = %s::jsonb, updated_at = %s WHERE kind = %s AND key = %s",
                (
                    getattr(obj, "status", None),
                    getattr(obj, "phase", None),
                    expected_version + 1,
                    docs.has_run(kind, obj, before=ran),
                    doc,
                    now,
                    kind,
                    obj.key,
                ),
            )
            _audit(
                conn,
                self.db.notify_channel,
                actor,
                "update",
                kind,
                obj.key,
                reason,
                before,
                doc,
                now,
            )
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
        now = self._clock()
        with self.db.transaction(f"deleting {kind} {key!r}") as conn:
            before, ran = _current(conn, kind, key, expected_version)
            if ran:
                archived = msgspec.structs.replace(
                    docs.decode_doc(kind, before), status="archived", version=expected_version + 1
                )
                doc = docs.encode_doc(archived).decode()
                conn.execute(
                    "UPDATE config_objects SET status = 'archived', version = %s, "
                    "doc = %s::jsonb, updated_at = %s WHERE kind = %s AND key = %s",
                    (expected_version + 1, doc, now, kind, key),
                )
                _audit(
                    conn,
                    self.db.notify_channel,
                    actor,
                    "archive",
                    kind,
                    key,
                    reason,
                    before,
                    doc,
                    now,
                )
            else:
                conn.execute("DELETE FROM config_objects WHERE kind = %s AND key = %s", (kind, key))
                _audit(
                    conn,
                    self.db.notify_channel,
                    actor,
                    "delete",
                    kind,
                    key,
                    reason,
                    before,
                    None,
                    now,
                )

    def audit(
        self, *, kind: Kind | None = None, key: str | None = None, limit: int = 100
    ) -> builtins.list[AuditEntry]:
        """Recorded changes, newest first, optionally of one kind / key."""
        if kind is not None:
            docs.check_kind(kind)
        docs.check_page(limit)
        query = (
            "SELECT actor, action, kind, key, reason, before::text, after::text, "
            "config_version, at FROM audit_log WHERE true"
        )
        params: list[Any] = []
        if kind is not None:
            query += " AND kind = %s"
            params.append(kind)
        if key is not None:
            query += " AND key = %s"
            params.append(key)
        query += " ORDER BY id DESC LIMIT %s"
        with self.db.transaction("reading the audit log") as conn:
            rows = conn.execute(query.encode(), [*params, limit]).fetchall()
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
                at=r[8].astimezone(UTC),
            )
            for r in rows
        ]

    def close(self) -> None:
        """Release the database if this store owns it (idempotent)."""
        if self._owns:
            self._owns = False
            self.db.release()


def _config_version(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT config_version FROM config_meta WHERE id = 1").fetchone()
    return int(row[0]) if row else 0


def _current(conn: psycopg.Connection[Any], kind: str, key: str, expected: int) -> tuple[str, bool]:
    row = conn.execute(
        "SELECT version, has_run, doc::text FROM config_objects "
        "WHERE kind = %s AND key = %s FOR UPDATE",
        (kind, key),
    ).fetchone()
    if row is None:
        raise docs.not_found(kind, key)
    if row[0] != expected:
        raise docs.stale_version(kind, key, expected, row[0])
    return row[2], bool(row[1])


def _audit(
    conn: psycopg.Connection[Any],
    channel: str,
    actor: str,
    action: str,
    kind: str,
    key: str,
    reason: str,
    before: str | None,
    after: str | None,
    now: datetime,
) -> None:
    row = conn.execute(
        "UPDATE config_meta SET config_version = config_version + 1 WHERE id = 1 "
        "RETURNING config_version"
    ).fetchone()
    version = int(row[0]) if row else 0
    conn.execute(
        "INSERT INTO audit_log (actor, action, kind, key, reason, before, after, config_version, "
        "at) VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s)",
        (actor, action, kind, key, reason, before, after, version, now),
    )
    # Delivered to LISTEN abwb_config only if (and when) this transaction commits.
    conn.execute("SELECT pg_notify(%s, %s)", (channel, str(version)))
