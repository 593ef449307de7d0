"""Alerts in the abwb database: the SQLite and PostgreSQL :class:`AlertStore` adapters.

What belongs here: the SQL of the monitoring port
:class:`~abwb.monitoring.alerts.AlertStore`, written once for both dialects
(:mod:`abwb.store.dialect`) on a shared :class:`~abwb.store.sqlite.SqliteDatabase` or
:class:`~abwb.store.postgres.PostgresDatabase`, so alerts use the config and event
stores' connections, migrations and error translation. The ``alerts`` table belongs
to the store migrations; its partial unique index guarantees at most one open alert
per ``dedup_key``. The indexed columns hold what ``list`` filters on; the
``evidence`` column holds the whole alert document (JSON), so no field is lost.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from abwb.monitoring.alerts import Alert, AlertKind, AlertStatus, check_list_args
from abwb.store.dialect import SqlDatabase
from abwb.store.sqlite import SqliteDatabase

if TYPE_CHECKING:
    from abwb.store.postgres import PostgresDatabase

__all__ = ["PostgresAlertStore", "SqlAlertStore", "SqliteAlertStore"]

_decoder = msgspec.json.Decoder(Alert)


class SqlAlertStore:
    """Alerts in the ``alerts`` table of an abwb database (either dialect).

    Args:
        database: The open database (may be shared with the config and event stores).
        owns: Close the database with this store (the last owning store closes it).
    """

    def __init__(self, database: SqlDatabase, *, owns: bool = False) -> None:
        self.db = database
        self._dialect = database.dialect
        self._owns = owns
        if owns:
            database.retain()

    def open_alerts(self) -> list[Alert]:
        """Every open alert."""
        return self._select(" WHERE status = 'open'", [])

    def save(self, alerts: Sequence[Alert]) -> None:
        """Insert or update alerts (matched by dedup key and opening time), atomically.

        Raises:
            StorageError: the database failed, e.g. a second open alert for a dedup key.
        """
        d = self._dialect
        update = d.sql(
            "UPDATE alerts SET status = ?, resolved_at = ?, severity = ?, message = ?, "
            f"evidence = {d.json_param} WHERE dedup_key = ? AND opened_at = ?"
        )
        insert = d.sql(
            "INSERT INTO alerts (kind, severity, experiment, rollout, dedup_key, status, "
            f"message, evidence, opened_at, resolved_at) VALUES (?, ?, ?, ?, ?, ?, ?, "
            f"{d.json_param}, ?, ?)"
        )
        with self.db.transaction("saving alerts") as conn:
            for a in alerts:
                doc = msgspec.json.encode(a).decode()
                opened, resolved = d.timestamp(a.opened_at), d.timestamp(a.resolved_at)
                updated = conn.execute(
                    update,
                    (a.status, resolved, a.severity, a.message, doc, a.dedup_key, opened),
                ).rowcount
                if updated == 0:
                    conn.execute(
                        insert,
                        (a.kind, a.severity, a.experiment, a.rollout, a.dedup_key, a.status,
                         a.message, doc, opened, resolved),
                    )

    def list(
        self,
        *,
        status: AlertStatus | None = None,
        experiment: str | None = None,
        kind: AlertKind | None = None,
        since: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[Alert]:
        """Alerts, newest first, filtered (``experiment`` matches rollouts too).

        ``since`` keeps the alerts opened or resolved at or after that instant.
        """
        check_list_args(status=status, kind=kind, limit=limit, offset=offset, since=since)
        clauses: builtins.list[str] = []
        params: builtins.list[Any] = []
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        if experiment is not None:
            clauses.append("(experiment = ? OR rollout = ?)")
            params += [experiment, experiment]
        if kind is not None:
            clauses.append("kind = ?")
            params.append(kind)
        if since is not None:
            clauses.append("(opened_at >= ? OR resolved_at >= ?)")
            params += [self._dialect.timestamp(since)] * 2
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        return self._select(
            f"{where} ORDER BY opened_at DESC, id DESC LIMIT ? OFFSET ?", [*params, limit, offset]
        )

    def close(self) -> None:
        """Release the database if this store owns it (idempotent)."""
        if self._owns:
            self._owns = False
            self.db.release()

    def _select(self, rest: str, params: builtins.list[Any]) -> builtins.list[Alert]:
        query = self._dialect.sql(f"SELECT {self._dialect.json_text('evidence')} FROM alerts{rest}")
        with self.db.transaction("reading alerts", write=False) as conn:
            rows = conn.execute(query, params).fetchall()
        return [_decoder.decode(r[0]) for r in rows]


class SqliteAlertStore(SqlAlertStore):
    """Alerts in an SQLite file (the embedded default's database).

    Args:
        database: An open :class:`~abwb.store.sqlite.SqliteDatabase` (may be shared
            with the config and event stores) or a path to open (and migrate).
        owns: Close the database with this store (default: only when given a path).

    Raises:
        StorageError: the file cannot be opened.

    Examples:
        >>> import tempfile, pathlib
        >>> store = SqliteAlertStore(pathlib.Path(tempfile.mkdtemp()) / "abwb.db")
        >>> store.open_alerts()
        []
        >>> store.close()
    """

    def __init__(self, database: SqliteDatabase | str | Path, *, owns: bool = False) -> None:
        shared = isinstance(database, SqliteDatabase)
        db = database if isinstance(database, SqliteDatabase) else SqliteDatabase(database)
        super().__init__(db, owns=owns or not shared)


class PostgresAlertStore(SqlAlertStore):
    """Alerts in PostgreSQL (production), in the schema of ``database``.

    Args:
        database: An open :class:`~abwb.store.postgres.PostgresDatabase` (may be shared
            with the config and event stores).
        owns: Close the database when this store closes (the last owner closes it).
    """

    def __init__(self, database: PostgresDatabase, *, owns: bool = False) -> None:
        super().__init__(database, owns=owns)
