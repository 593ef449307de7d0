"""Embedded SQLite event store: idempotent batched appends, columnar reads into polars.

What belongs here: :class:`SqliteEventStore`. Appends are one ``executemany`` of
``INSERT OR IGNORE`` in one ``BEGIN IMMEDIATE`` transaction, acknowledged only after
``COMMIT``; ``total_changes`` gives the rows really inserted, so duplicates (already
stored or repeated in the batch) are counted exactly. Timestamps are integer UTC
microseconds; reads fetch in large chunks straight into polars (no per-row objects).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from abwb.events.frames import EVENT_SCHEMA, EXPOSURE_SCHEMA
from abwb.events.models import AppendResult, Event, Exposure
from abwb.store import documents as docs
from abwb.store.sqlite import SqliteDatabase

__all__ = ["SqliteEventStore"]

_FETCH_ROWS = 200_000


class SqliteEventStore:
    """Exposures and events in an SQLite file.

    Args:
        database: An open :class:`~abwb.store.sqlite.SqliteDatabase` (may be shared
            with the config store) or a path to open.
        owns: Close the database with this store (default: only when given a path).

    Examples:
        >>> import tempfile, pathlib
        >>> from datetime import UTC, datetime
        >>> store = SqliteEventStore(pathlib.Path(tempfile.mkdtemp()) / "abwb.db")
        >>> e = Event(event_id="e1", unit_type="user", unit_id="u1", name="buy",
        ...           value=9.5, occurred_at=datetime(2026, 1, 1, tzinfo=UTC))
        >>> store.append_events([e, e])
        AppendResult(accepted=1, duplicates=1)
        >>> store.read_events(names=["buy"])["value"].to_list()
        [9.5]
        >>> store.close()
    """

    def __init__(self, database: SqliteDatabase | str | Path, *, owns: bool = False) -> None:
        self.db = database if isinstance(database, SqliteDatabase) else SqliteDatabase(database)
        self._owns = owns or not isinstance(database, SqliteDatabase)
        if self._owns:
            self.db.retain()

    def append_exposures(self, rows: Sequence[Exposure]) -> AppendResult:
        """Store exposures, ignoring known ``exposure_id`` s; returns after commit."""
        params = [
            (
                r.exposure_id,
                r.experiment,
                r.variant,
                r.phase,
                r.unit_type,
                r.unit_id,
                r.config_version,
                docs.to_micros(r.exposed_at),
            )
            for r in docs.check_rows(rows, Exposure)
        ]
        return self._append(
            "INSERT OR IGNORE INTO exposures (exposure_id, experiment, variant, phase, unit_type, "
            "unit_id, config_version, exposed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            params,
            "exposures",
        )

    def append_events(self, rows: Sequence[Event]) -> AppendResult:
        """Store events, ignoring known ``event_id`` s; returns after commit."""
        params = [
            (
                r.event_id,
                r.unit_type,
                r.unit_id,
                r.name,
                r.value,
                docs.to_micros(r.occurred_at),
                r.properties,
            )
            for r in docs.check_rows(rows, Event)
        ]
        return self._append(
            "INSERT OR IGNORE INTO events (event_id, unit_type, unit_id, name, value, "
            "occurred_at, properties) VALUES (?, ?, ?, ?, ?, ?, ?)",
            params,
            "events",
        )

    def read_exposures(
        self,
        *,
        experiment: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pl.DataFrame:
        """Exposures with ``since <= exposed_at < until``, ordered by time (``EXPOSURE_SCHEMA``)."""
        low, high = docs.check_time_range(since, until)
        where, params = _time_filter("exposed_at", low, high)
        if experiment is not None:
            where.append("experiment = ?")
            params.append(experiment)
        sql = f"SELECT {', '.join(EXPOSURE_SCHEMA)} FROM exposures"
        return self._read(sql, where, params, EXPOSURE_SCHEMA, "exposed_at", "exposure_id")

    def read_events(
        self,
        *,
        names: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pl.DataFrame:
        """Events with ``since <= occurred_at < until``, ordered by time (``EVENT_SCHEMA``)."""
        wanted = docs.check_names(names)
        low, high = docs.check_time_range(since, until)
        where, params = _time_filter("occurred_at", low, high)
        if wanted is not None:
            if not wanted:
                return pl.DataFrame(schema=EVENT_SCHEMA)
            where.append(f"name IN ({', '.join('?' * len(wanted))})")
            params.extend(wanted)
        sql = f"SELECT {', '.join(EVENT_SCHEMA)} FROM events"
        return self._read(sql, where, params, EVENT_SCHEMA, "occurred_at", "event_id")

    def close(self) -> None:
        """Release the database if this store owns it (idempotent)."""
        if self._owns:
            self._owns = False
            self.db.release()

    def _append(self, sql: str, params: list[tuple[Any, ...]], what: str) -> AppendResult:
        if not params:
            return AppendResult(accepted=0, duplicates=0)
        with self.db.transaction(f"appending {len(params)} {what}") as conn:
            before = conn.total_changes
            conn.executemany(sql, params)
            inserted = conn.total_changes - before
        return AppendResult(accepted=inserted, duplicates=len(params) - inserted)

    def _read(
        self,
        sql: str,
        where: list[str],
        params: list[Any],
        schema: pl.Schema,
        time_column: str,
        id_column: str,
    ) -> pl.DataFrame:
        if where:
            sql += " WHERE " + " AND ".join(where)
        raw = {name: (pl.Int64 if name == time_column else dtype) for name, dtype in schema.items()}
        chunks = []
        with self.db.transaction(f"reading {time_column.split('_')[0]} rows", write=False) as conn:
            cursor = conn.execute(sql, params)
            while batch := cursor.fetchmany(_FETCH_ROWS):
                chunks.append(pl.DataFrame(batch, schema=raw, orient="row"))
        frame = pl.concat(chunks) if chunks else pl.DataFrame(schema=raw)
        return frame.with_columns(
            pl.col(time_column).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
        ).sort(time_column, id_column)


def _time_filter(column: str, low: int | None, high: int | None) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if low is not None:
        where.append(f"{column} >= ?")
        params.append(low)
    if high is not None:
        where.append(f"{column} < ?")
        params.append(high)
    return where, params
