"""The SQL config store: config objects, audit log and config version, written once.

What belongs here: :class:`SqlConfigStore`, the :class:`~abwb.store.protocol.ConfigStore`
on an SQLite file or a PostgreSQL schema, and the transaction view it hands to
:meth:`SqlConfigStore.change`. Its SQL is written once with ``?`` markers for both
databases (:mod:`abwb.store.dialect`); what differs is behind the hooks of the
:class:`~abwb.store.dialect.SqlDatabase`:

- **serialised writes** — every change first takes the workspace lock
  (:meth:`~abwb.store.dialect.SqlDatabase.lock_config`: a PostgreSQL advisory
  transaction lock, SQLite's ``BEGIN IMMEDIATE``), so reads made inside a change are
  still true when it commits;
- **consistent reads** — :meth:`SqlConfigStore.load_bundle` reads the version and
  every object from one snapshot (``REPEATABLE READ`` on PostgreSQL);
- **row locking** — the dialect's ``row_lock`` on the row about to change;
- **insert-if-new** — ``INSERT … ON CONFLICT (kind, key) DO NOTHING``, the same
  statement on both databases;
- **notify-on-commit** — :meth:`~abwb.store.dialect.SqlDatabase.announce_config`
  (``pg_notify`` on PostgreSQL, nothing on SQLite).

The store keeps data and decides nothing: archiving instead of deleting and legal
status changes are :mod:`abwb.changes`' rules.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import msgspec

from abwb.config.bundle import ConfigBundle
from abwb.store import documents as docs
from abwb.store.dialect import SqlDatabase, SqlDialect
from abwb.store.protocol import KIND_SECTIONS, AuditAction, AuditEntry, Kind

__all__ = ["Clock", "SqlConfigStore"]

#: Source of ``updated_at`` and audit timestamps.
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SqlConfigStore:
    """Config objects in an abwb database (SQLite file or PostgreSQL schema).

    Args:
        database: The open database (may be shared with the event and alert stores).
        clock: Source of ``updated_at`` / audit timestamps.
        owns: Close the database when this store closes (the last owner closes it).
    """

    def __init__(
        self, database: SqlDatabase, *, clock: Clock = _utcnow, owns: bool = False
    ) -> None:
        self.database = database
        self._owns = owns
        if owns:
            database.retain()
        self._clock = clock

    def load_bundle(self) -> ConfigBundle:
        """Every object as one consistent bundle (one snapshot of the database)."""
        with self.database.transaction(
            "loading the config bundle", write=False, consistent=True
        ) as conn:
            return _SqlConfigTransaction(self.database.dialect, conn, self._clock).load_bundle()

    def config_version(self) -> int:
        """The global config version (0 before the first write)."""
        with self.database.transaction("reading the config version", write=False) as conn:
            return _config_version(self.database.dialect, conn)

    def get(self, kind: Kind, key: str) -> Any:
        """The object ``key`` of ``kind``.

        Raises:
            NotFound: no such object.
        """
        docs.check_kind(kind)
        with self.database.transaction(f"reading {kind} {key!r}", write=False) as conn:
            return _SqlConfigTransaction(self.database.dialect, conn, self._clock).get(kind, key)

    def list(
        self, kind: Kind, *, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Any]:
        """Objects of ``kind`` ordered by key, optionally filtered by ``status``."""
        docs.check_kind(kind)
        docs.check_page(limit, offset)
        d = self.database.dialect
        query = f"SELECT {d.json_text('doc')} FROM config_objects WHERE kind = ?"
        params: list[Any] = [kind]
        if status is not None:
            query += " AND status = ?"
            params.append(status)
        query += " ORDER BY key LIMIT ? OFFSET ?"
        with self.database.transaction(f"listing {kind}s", write=False) as conn:
            rows = conn.execute(d.sql(query), [*params, limit, offset]).fetchall()
        return [docs.decode_doc(kind, r[0]) for r in rows]

    @contextmanager
    def change(self, what: str) -> Iterator[_SqlConfigTransaction]:
        """One serialised transaction of config reads and writes (see the module docstring).

        Raises:
            StorageError: the database failed or the workspace lock was not granted.
        """
        with self.database.transaction(what) as conn:
            self.database.lock_config(conn)
            tx = _SqlConfigTransaction(self.database.dialect, conn, self._clock)
            yield tx
            if tx.version is not None:
                self.database.announce_config(conn, tx.version)

    def create(self, kind: Kind, obj: Any, *, actor: str, reason: str = "") -> Any:
        """Store a new object; returns it with ``version=1``.

        Raises:
            Conflict: the key exists.
            InvalidInput: wrong type for ``kind`` or empty ``actor``.
        """
        docs.check_object(kind, obj)
        docs.check_actor(actor)
        with self.change(f"creating {kind} {obj.key!r}") as tx:
            return tx.create(kind, obj, actor=actor, reason=reason)

    def update(
        self,
        kind: Kind,
        obj: Any,
        *,
        expected_version: int,
        actor: str,
        reason: str = "",
        action: AuditAction = "update",
    ) -> Any:
        """Replace an object; returns it with its new version.

        Raises:
            NotFound: no such object.
            VersionConflict: its version is not ``expected_version``.
        """
        docs.check_object(kind, obj)
        docs.check_actor(actor)
        with self.change(f"updating {kind} {obj.key!r}") as tx:
            return tx.update(
                kind,
                obj,
                expected_version=expected_version,
                actor=actor,
                reason=reason,
                action=action,
            )

    def delete(
        self, kind: Kind, key: str, *, expected_version: int, actor: str, reason: str = ""
    ) -> None:
        """Delete an object (whether to archive instead is :mod:`abwb.changes`' rule).

        Raises:
            NotFound: no such object.
            VersionConflict: its version is not ``expected_version``.
        """
        docs.check_kind(kind)
        docs.check_actor(actor)
        with self.change(f"deleting {kind} {key!r}") as tx:
            tx.delete(kind, key, expected_version=expected_version, actor=actor, reason=reason)

    def audit(
        self, *, kind: Kind | None = None, key: str | None = None, limit: int = 100
    ) -> builtins.list[AuditEntry]:
        """Recorded changes, newest first, optionally of one kind / key."""
        with self.database.transaction("reading the audit log", write=False) as conn:
            return _SqlConfigTransaction(self.database.dialect, conn, self._clock).audit(
                kind=kind, key=key, limit=limit
            )

    def close(self) -> None:
        """Release the database if this store owns it (idempotent)."""
        if self._owns:
            self._owns = False
            self.database.release()


class _SqlConfigTransaction:
    """Config reads and writes on one open transaction (a :class:`ConfigTransaction`)."""

    def __init__(self, dialect: SqlDialect, conn: Any, clock: Clock) -> None:
        self._d = dialect
        self._conn = conn
        self._clock = clock
        #: The config version the last write produced (``None`` until one writes).
        self.version: int | None = None

    def _run(self, query: str, params: Any = ()) -> Any:
        return self._conn.execute(self._d.sql(query), params)

    def load_bundle(self) -> ConfigBundle:
        """Every object as one bundle."""
        sections: dict[str, list[Any]] = {s: [] for s in KIND_SECTIONS.values()}
        version = _config_version(self._d, self._conn)
        rows = self._run(
            f"SELECT kind, {self._d.json_text('doc')} FROM config_objects ORDER BY kind, key"
        ).fetchall()
        for kind, doc in rows:
            if kind in KIND_SECTIONS:
                sections[KIND_SECTIONS[kind]].append(docs.decode_doc(kind, doc))
        return ConfigBundle(**sections, version=version)

    def get(self, kind: Kind, key: str) -> Any:
        """The object ``key`` of ``kind``; ``NotFound`` if missing."""
        docs.check_kind(kind)
        row = self._run(
            f"SELECT {self._d.json_text('doc')} FROM config_objects WHERE kind = ? AND key = ?",
            (kind, key),
        ).fetchone()
        if row is None:
            raise docs.not_found(kind, key)
        return docs.decode_doc(kind, row[0])

    def audit(
        self, *, kind: Kind | None = None, key: str | None = None, limit: int = 100
    ) -> builtins.list[AuditEntry]:
        """Recorded changes, newest first."""
        if kind is not None:
            docs.check_kind(kind)
        docs.check_page(limit)
        d = self._d
        query = (
            f"SELECT actor, action, kind, key, reason, {d.json_text('before')}, "
            f"{d.json_text('after')}, config_version, at FROM audit_log WHERE 1 = 1"
        )
        params: list[Any] = []
        if kind is not None:
            query += " AND kind = ?"
            params.append(kind)
        if key is not None:
            query += " AND key = ?"
            params.append(key)
        query += " ORDER BY id DESC LIMIT ?"
        rows = self._run(query, [*params, limit]).fetchall()
        return [
            AuditEntry(
                actor=r[0],
                action=r[1],
                kind=r[2],
                key=r[3],
                reason=r[4],
                before=None if r[5] is None else msgspec.json.decode(r[5]),
                after=None if r[6] is None else msgspec.json.decode(r[6]),
                config_version=int(r[7]),
                at=d.from_timestamp(r[8]),
            )
            for r in rows
        ]

    def create(self, kind: Kind, obj: Any, *, actor: str, reason: str = "") -> Any:
        """Store a new object as version 1; ``Conflict`` if the key exists."""
        docs.check_object(kind, obj)
        docs.check_actor(actor)
        stored = docs.with_version(obj, 1)
        doc = docs.encode_doc(stored).decode()
        now = self._clock()
        at = self._d.timestamp(now)
        inserted = self._run(
            "INSERT INTO config_objects (kind, key, status, phase, version, doc, created_at, "
            f"updated_at) VALUES (?, ?, ?, ?, 1, {self._d.json_param}, ?, ?) "
            "ON CONFLICT (kind, key) DO NOTHING",
            (kind, obj.key, _status(obj), getattr(obj, "phase", None), doc, at, at),
        ).rowcount
        if not inserted:
            raise docs.already_exists(kind, obj.key)
        self._audit(actor, "create", kind, obj.key, reason, None, doc, now)
        return stored

    def update(
        self,
        kind: Kind,
        obj: Any,
        *,
        expected_version: int,
        actor: str,
        reason: str = "",
        action: AuditAction = "update",
    ) -> Any:
        """Replace an object at ``expected_version``; returns it with its new version."""
        docs.check_object(kind, obj)
        docs.check_actor(actor)
        before = self._current(kind, obj.key, expected_version)
        stored = docs.with_version(obj, expected_version + 1)
        doc = docs.encode_doc(stored).decode()
        now = self._clock()
        self._run(
            "UPDATE config_objects SET status = ?, phase = ?, version = ?, "
            f"doc = {self._d.json_param}, updated_at = ? WHERE kind = ? AND key = ?",
            (
                _status(obj),
                getattr(obj, "phase", None),
                expected_version + 1,
                doc,
                self._d.timestamp(now),
                kind,
                obj.key,
            ),
        )
        self._audit(actor, action, kind, obj.key, reason, before, doc, now)
        return stored

    def delete(
        self, kind: Kind, key: str, *, expected_version: int, actor: str, reason: str = ""
    ) -> None:
        """Delete an object at ``expected_version``."""
        docs.check_kind(kind)
        docs.check_actor(actor)
        before = self._current(kind, key, expected_version)
        self._run("DELETE FROM config_objects WHERE kind = ? AND key = ?", (kind, key))
        self._audit(actor, "delete", kind, key, reason, before, None, self._clock())

    def _current(self, kind: str, key: str, expected: int) -> str:
        """The stored document of ``key`` (row-locked), if it is at version ``expected``."""
        row = self._run(
            f"SELECT version, {self._d.json_text('doc')} FROM config_objects "
            f"WHERE kind = ? AND key = ?{self._d.row_lock}",
            (kind, key),
        ).fetchone()
        if row is None:
            raise docs.not_found(kind, key)
        if int(row[0]) != expected:
            raise docs.stale_version(kind, key, expected, int(row[0]))
        return str(row[1])

    def _audit(
        self,
        actor: str,
        action: str,
        kind: str,
        key: str,
        reason: str,
        before: str | None,
        after: str | None,
        now: datetime,
    ) -> None:
        # An upsert: a database whose config_meta row went missing gets it back rather
        # than staying at version 0 (which no snapshot holder would ever reload).
        row = self._run(
            "INSERT INTO config_meta (id, config_version) VALUES (1, 1) ON CONFLICT (id) "
            "DO UPDATE SET config_version = config_meta.config_version + 1 "
            "RETURNING config_version"
        ).fetchone()
        self.version = int(row[0])
        j = self._d.json_param
        self._run(
            "INSERT INTO audit_log (actor, action, kind, key, reason, before, after, "
            f"config_version, at) VALUES (?, ?, ?, ?, ?, {j}, {j}, ?, ?)",
            (actor, action, kind, key, reason, before, after, self.version,
             self._d.timestamp(now)),
        )


def _status(obj: Any) -> str | None:
    status = getattr(obj, "status", None)
    return None if status is None else str(status)


def _config_version(dialect: SqlDialect, conn: Any) -> int:
    # 0 when the row is missing (nothing written yet), on both databases alike.
    row = conn.execute(
        dialect.sql("SELECT coalesce(max(config_version), 0) FROM config_meta")
    ).fetchone()
    return int(row[0]) if row else 0
