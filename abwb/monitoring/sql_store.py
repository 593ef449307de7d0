"""SQL alert stores: ``SqliteAlertStore`` and ``PostgresAlertStore`` over the ``alerts`` table.

What belongs here: the two SQL implementations of
:class:`~abwb.monitoring.alerts.AlertStore` and their SQL. They use the ``alerts``
table of the abwb schema (created by the store migrations; created here too, with
the same definition, when a database has not been migrated) whose partial unique
index guarantees at most one open alert per ``dedup_key``. The indexed columns
hold what ``list`` filters on; the ``evidence`` column holds the whole alert
document (JSON), so no field is lost. Driver exceptions are wrapped in
:class:`~abwb.errors.StorageError`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from abwb.errors import StorageError
from abwb.monitoring.alerts import Alert, AlertKind, AlertStatus, check_list_args
from abwb.settings import Settings

__all__ = ["PostgresAlertStore", "SqliteAlertStore", "open_alert_store"]

_SQLITE_DDL = """
CREATE TABLE IF NOT EXISTS alerts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT    NOT NULL,
    severity    TEXT    NOT NULL,
    experiment  TEXT,
    rollout     TEXT,
    dedup_key   TEXT    NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    message     TEXT    NOT NULL DEFAULT '',
    evidence    TEXT    NOT NULL DEFAULT '{}',
    opened_at   INTEGER NOT NULL,
    resolved_at INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS alerts_open_dedup ON alerts (dedup_key) WHERE status = 'open'
"""

_POSTGRES_DDL = """
CREATE TABLE IF NOT EXISTS alerts (
    id          bigserial   PRIMARY KEY,
    kind        text        NOT NULL,
    severity    text        NOT NULL,
    experiment  text,
    rollout     text,
    dedup_key   text        NOT NULL,
    status      text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    message     text        NOT NULL DEFAULT '',
    evidence    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    opened_at   timestamptz NOT NULL,
    resolved_at timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS alerts_open_dedup ON alerts (dedup_key) WHERE status = 'open'
"""

_decoder = msgspec.json.Decoder(Alert)


def open_alert_store(
    settings: Settings, *, schema: str | None = None
) -> SqliteAlertStore | PostgresAlertStore:
    """The alert store of ``settings`` (same database as the config/event stores).

    Args:
        settings: Process settings; ``database.effective_url`` picks SQLite or PostgreSQL.
        schema: PostgreSQL schema (default ``settings.database.schema``; ignored for
            SQLite).

    Returns:
        The store; close it when done.

    Raises:
        StorageError: the database cannot be opened or the URL is not supported.
    """
    url = settings.database.effective_url
    if settings.database.is_postgres:
        return PostgresAlertStore(url, schema=schema or settings.database.schema)
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise StorageError(f"unsupported database URL for alerts: {url.split('@')[-1]!r}")
    return SqliteAlertStore(url[len(prefix) :])


def _micros(at: datetime | None) -> int | None:
    if at is None:
        return None
    delta = at.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _where(
    status: str | None, experiment: str | None, kind: str | None, mark: str
) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if status is not None:
        clauses.append(f"status = {mark}")
        params.append(status)
    if experiment is not None:
        clauses.append(f"(experiment = {mark} OR rollout = {mark})")
        params += [experiment, experiment]
    if kind is not None:
        clauses.append(f"kind = {mark}")
        params.append(kind)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


class SqliteAlertStore:
    """Alerts in a SQLite file (the embedded default's database).

    Args:
        path: The database file (``.abwb/abwb.db``) or ``:memory:``.

    Raises:
        StorageError: the file cannot be opened.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA busy_timeout = 5000")
            for statement in _SQLITE_DDL.split(";"):
                self._conn.execute(statement)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open alert store {self.path!r}: {exc}") from exc

    def _rows(self, sql: str, params: Sequence[Any]) -> list[Alert]:
        try:
            rows = self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"reading alerts from {self.path!r} failed: {exc}") from exc
        return [_decoder.decode(r[0]) for r in rows]

    def open_alerts(self) -> list[Alert]:
        """Every open alert."""
        return self._rows("SELECT evidence FROM alerts WHERE status = 'open'", [])

    def save(self, alerts: Sequence[Alert]) -> None:
        """Insert or update alerts (matched by dedup key and opening time), atomically."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for a in alerts:
                    self._save_one(a)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StorageError(f"saving alerts to {self.path!r} failed: {exc}") from exc

    def _save_one(self, a: Alert) -> None:
        doc = msgspec.json.encode(a).decode()
        cur = self._conn.execute(
            "UPDATE alerts SET status = ?, resolved_at = ?, severity = ?, message = ?, "
            "evidence = ? WHERE dedup_key = ? AND opened_at = ?",
            (a.status, _micros(a.resolved_at), a.severity, a.message, doc, a.dedup_key,
             _micros(a.opened_at)),
        )
        if cur.rowcount == 0:
            self._conn.execute(
                "INSERT INTO alerts (kind, severity, experiment, rollout, dedup_key, status, "
                "message, evidence, opened_at, resolved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (a.kind, a.severity, a.experiment, a.rollout, a.dedup_key, a.status, a.message,
                 doc, _micros(a.opened_at), _micros(a.resolved_at)),
            )

    def list(
        self,
        *,
        status: AlertStatus | None = None,
        experiment: str | None = None,
        kind: AlertKind | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Alert]:
        """Alerts, newest first, filtered."""
        check_list_args(status=status, kind=kind, limit=limit, offset=offset)
        where, params = _where(status, experiment, kind, "?")
        return self._rows(
            f"SELECT evidence FROM alerts{where} ORDER BY opened_at DESC, id DESC "
            "LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()


class PostgresAlertStore:
    """Alerts in PostgreSQL (production), in ``schema`` (default ``public``).

    Args:
        url: ``postgresql://...``.
        schema: Schema holding the abwb tables.
        timeout_s: Connect timeout.

    Raises:
        StorageError: the server cannot be reached.
    """

    def __init__(self, url: str, *, schema: str = "public", timeout_s: float = 5.0) -> None:
        import psycopg

        self._psycopg = psycopg
        self.url = url
        self.schema = schema
        self._timeout_s = timeout_s
        self._conn: Any = None
        with self._transaction("creating the alerts table") as cur:
            cur.execute(_POSTGRES_DDL)

    def _connect(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = self._psycopg.connect(
                self.url, connect_timeout=max(1, int(self._timeout_s)),
                options=f"-c search_path={self.schema}",
            )
        return self._conn

    def _transaction(self, what: str) -> Any:
        store = self

        class _Tx:
            def __enter__(self) -> Any:
                try:
                    self.conn = store._connect()
                    self.tx = self.conn.transaction()
                    self.tx.__enter__()
                    self.cur = self.conn.cursor()
                except store._psycopg.Error as exc:
                    store._drop()
                    raise StorageError(f"{what} failed: {exc}") from exc
                return self.cur

            def __exit__(self, et: Any, ev: Any, tb: Any) -> bool:
                try:
                    self.tx.__exit__(et, ev, tb)
                except store._psycopg.Error as exc:
                    store._drop()
                    raise StorageError(f"{what} failed: {exc}") from exc
                if isinstance(ev, store._psycopg.Error):
                    store._drop()
                    raise StorageError(f"{what} failed: {ev}") from ev
                return False

        return _Tx()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def open_alerts(self) -> list[Alert]:
        """Every open alert."""
        return self._select("SELECT evidence::text FROM alerts WHERE status = 'open'", [])

    def _select(self, sql: str, params: Sequence[Any]) -> list[Alert]:
        with self._transaction("reading alerts") as cur:
            cur.execute(sql, params)
            rows = cur.fetchall()
        return [_decoder.decode(r[0]) for r in rows]

    def save(self, alerts: Sequence[Alert]) -> None:
        """Insert or update alerts (matched by dedup key and opening time) in one transaction."""
        with self._transaction("saving alerts") as cur:
            for a in alerts:
                doc = msgspec.json.encode(a).decode()
                cur.execute(
                    "UPDATE alerts SET status = %s, resolved_at = %s, severity = %s, "
                    "message = %s, evidence = %s::jsonb WHERE dedup_key = %s AND opened_at = %s",
                    (a.status, a.resolved_at, a.severity, a.message, doc, a.dedup_key,
                     a.opened_at),
                )
                if cur.rowcount == 0:
                    cur.execute(
                        "INSERT INTO alerts (kind, severity, experiment, rollout, dedup_key, "
                        "status, message, evidence, opened_at, resolved_at) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s)",
                        (a.kind, a.severity, a.experiment, a.rollout, a.dedup_key, a.status,
                         a.message, doc, a.opened_at, a.resolved_at),
                    )

    def list(
        self,
        *,
        status: AlertStatus | None = None,
        experiment: str | None = None,
        kind: AlertKind | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Alert]:
        """Alerts, newest first, filtered."""
        check_list_args(status=status, kind=kind, limit=limit, offset=offset)
        where, params = _where(status, experiment, kind, "%s")
        return self._select(
            f"SELECT evidence::text FROM alerts{where} ORDER BY opened_at DESC, id DESC "
            "LIMIT %s OFFSET %s",
            [*params, limit, offset],
        )

    def close(self) -> None:
        """Close the connection."""
        self._drop()
