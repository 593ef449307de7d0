"""PostgreSQL database: the pooled connection/migration layer and :class:`PostgresConfigStore`.

What belongs here: a ``psycopg_pool`` pool pinned to one schema (``search_path``) with
connect, pool-wait and statement timeouts (a write against a PostgreSQL that is down
or frozen fails with :class:`~abwb.errors.StorageError` within about a second),
migrations applied under an advisory lock, translation of every psycopg / pool error
into :class:`~abwb.errors.StorageError` naming what failed, and the PostgreSQL side of
the :class:`~abwb.store.dialect.SqlDatabase` hooks: the advisory transaction lock that
serialises config writes and the ``pg_notify('abwb_config', version)`` that PostgreSQL
delivers to listeners only when the transaction commits. The config store's SQL is
shared with SQLite in :mod:`abwb.store.config_objects`; events live in
:mod:`abwb.store.postgres_events`.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from abwb.errors import InvalidInput, StorageError
from abwb.store.config_objects import Clock, SqlConfigStore
from abwb.store.dialect import POSTGRES, SqlDialect
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
        connect_timeout_s: TCP connect timeout of each new connection (libpq counts
            less than 2 s as 2 s; requests wait at most ``timeout_s`` for the pool).
        statement_timeout_s: Longest a transaction may take, config writes included:
            PostgreSQL's ``statement_timeout`` ends a slow statement, and a client-side
            deadline cuts the connection when the server (or the network to it) stops
            answering, so the caller gets :class:`StorageError` instead of hanging.
        bulk_timeout_s: The same limit for bulk event appends and reads, which may
            move many rows (:mod:`abwb.store.postgres_events`).

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
        timeout_s: float = 1.0,
        connect_timeout_s: int = 2,
        statement_timeout_s: float = 1.0,
        bulk_timeout_s: float = 60.0,
    ) -> None:
        if not _SCHEMA.match(schema):
            raise StorageError(
                f"schema must be a lowercase SQL identifier ([a-z_][a-z0-9_]*), got {schema!r}"
            )
        if statement_timeout_s <= 0 or bulk_timeout_s <= 0 or timeout_s <= 0:
            raise StorageError(
                "timeout_s, statement_timeout_s and bulk_timeout_s must be > 0, got "
                f"{timeout_s}, {statement_timeout_s}, {bulk_timeout_s}"
            )
        self.url = url
        self.schema = schema
        self.statement_timeout_s = statement_timeout_s
        self.bulk_timeout_s = bulk_timeout_s
        self.where = f"{redact_url(url)} (schema {schema})"
        try:
            conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise StorageError(f"invalid PostgreSQL URL {redact_url(url)!r}: {exc}") from exc
        self.connect_kwargs: dict[str, Any] = {
            "connect_timeout": connect_timeout_s,
            "options": f"-c search_path={schema} "
            f"-c statement_timeout={max(1, int(statement_timeout_s * 1000))}",
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
            check=self._check,
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
        self,
        what: str,
        *,
        write: bool = True,
        consistent: bool = False,
        timeout_s: float | None = None,
    ) -> Iterator[psycopg.Connection[Any]]:
        """Run a block in one transaction on a pooled connection.

        Commits when the block ends normally, rolls back on any exception; psycopg and
        pool errors come out as :class:`StorageError` naming ``what`` failed.

        Args:
            what: What the block does, for error messages.
            write: Accepted for symmetry with :meth:`SqliteDatabase.transaction
                <abwb.store.sqlite.SqliteDatabase.transaction>`: PostgreSQL takes its
                row locks as the statements run, so read and write transactions start
                alike.
            consistent: Run at ``REPEATABLE READ``, so every statement reads one snapshot.
            timeout_s: The transaction's deadline (default ``statement_timeout_s``); a
                longer one also lifts PostgreSQL's ``statement_timeout`` to match.
        """
        if not self._verified:
            self._verify()
        limit_s = self.statement_timeout_s if timeout_s is None else timeout_s
        expired: list[bool] = []
        try:
            with (
                self.pool.connection() as conn,
                _deadline(conn, limit_s) as expired,
                conn.transaction(),
            ):
                if consistent:
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                if limit_s != self.statement_timeout_s:
                    conn.execute(f"SET LOCAL statement_timeout = {max(1, int(limit_s * 1000))}")
                yield conn
        except PoolTimeout as exc:
            raise StorageError(
                f"{what} failed on PostgreSQL {self.where}: no connection within "
                f"{self.pool.timeout:g} s ({exc})"
            ) from exc
        except psycopg.Error as exc:
            if expired:
                raise StorageError(
                    f"{what} failed on PostgreSQL {self.where}: no answer within {limit_s:g} s "
                    "(connection cut)"
                ) from exc
            raise StorageError(f"{what} failed on PostgreSQL {self.where}: {exc}") from exc

    def _check(self, conn: psycopg.Connection[Any]) -> None:
        """The pool's check at checkout, under the deadline (a frozen server fails it)."""
        with _deadline(conn, self.statement_timeout_s):
            ConnectionPool.check_connection(conn)

    def lock_config(self, conn: psycopg.Connection[Any]) -> None:
        """Take this schema's config-write advisory lock until the transaction ends."""
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"abwb-config:{self.schema}",))

    def announce_config(self, conn: psycopg.Connection[Any], version: int) -> None:
        """``pg_notify`` the new version: delivered to ``LISTEN`` ers only on commit."""
        conn.execute("SELECT pg_notify(%s, %s)", (self.notify_channel, str(version)))

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
                    conn.execute("SET LOCAL statement_timeout = 0")  # migrations may be slow
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


class PostgresConfigStore(SqlConfigStore):
    """Config objects in PostgreSQL (production).

    All of its behaviour is :class:`~abwb.store.config_objects.SqlConfigStore`'s; the
    PostgreSQL parts (advisory lock, ``REPEATABLE READ`` bundle reads, ``FOR UPDATE``,
    ``pg_notify``) are hooks of :class:`PostgresDatabase`.

    Args:
        database: An open :class:`PostgresDatabase` (may be shared with the event store).
        clock: Source of ``updated_at`` / audit timestamps.
        owns: Close the database when this store closes (the last owner closes it).
    """

    def __init__(
        self, database: PostgresDatabase, *, clock: Clock = _utcnow, owns: bool = False
    ) -> None:
        super().__init__(database, clock=clock, owns=owns)


@contextmanager
def _deadline(conn: psycopg.Connection[Any], timeout_s: float) -> Iterator[list[bool]]:
    """Cut ``conn`` if the block has not ended after ``timeout_s``.

    A server that stopped answering (frozen, or a network path that swallows packets)
    never trips its own ``statement_timeout``, and libpq has no client-side one: shutting
    the socket down wakes the blocked call with an ``OperationalError``, and the pool
    discards the broken connection when it comes back. The list yielded holds ``True``
    once the deadline has cut the connection.
    """
    expired: list[bool] = []
    timer = threading.Timer(timeout_s, _cut, args=(conn, expired))
    timer.daemon = True
    timer.start()
    try:
        yield expired
    finally:
        timer.cancel()


def _cut(conn: psycopg.Connection[Any], expired: list[bool]) -> None:
    expired.append(True)
    with suppress(OSError, psycopg.Error):
        fd = conn.pgconn.socket
        dup = socket.socket(fileno=os.dup(fd))
        try:
            dup.shutdown(socket.SHUT_RDWR)
        finally:
            dup.close()
