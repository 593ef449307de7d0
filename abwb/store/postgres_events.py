"""PostgreSQL event store: COPY-based idempotent appends, COPY-based reads into polars.

What belongs here: :class:`PostgresEventStore`. An append streams the batch with
``COPY`` into a per-connection temporary staging table (emptied at commit), then
``INSERT … SELECT DISTINCT ON (id) … ON CONFLICT (id) DO NOTHING`` moves new rows in;
the insert's row count gives ``accepted`` and the rest of the batch (already stored or
repeated within it) ``duplicates``. The method returns only after ``COMMIT``. Reads
run ``COPY (SELECT …) TO STDOUT`` as CSV (times as epoch microseconds) and parse it
with polars, so a million rows never become Python objects.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

import polars as pl
from psycopg import sql

from abwb.events.frames import EVENT_SCHEMA, EXPOSURE_SCHEMA
from abwb.events.models import AppendResult, Event, Exposure
from abwb.store import documents as docs
from abwb.store.postgres import PostgresDatabase

__all__ = ["PostgresEventStore"]

AppendMethod = Literal["copy", "insert"]
_EXPOSURE_COLUMNS = tuple(EXPOSURE_SCHEMA)
_EVENT_COLUMNS = tuple(EVENT_SCHEMA)


class PostgresEventStore:
    """Exposures and events in PostgreSQL.

    Args:
        database: An open :class:`~abwb.store.postgres.PostgresDatabase` (may be shared
            with the config store).
        owns: Close the database when this store closes (the last owner closes it).
        method: ``copy`` (default: COPY into a staging table) or ``insert`` (plain
            ``executemany`` of ``INSERT … ON CONFLICT DO NOTHING``; kept for comparison).
    """

    def __init__(
        self, database: PostgresDatabase, *, owns: bool = False, method: AppendMethod = "copy"
    ) -> None:
        self.db = database
        self._owns = owns
        if owns:
            database.retain()
        self.method = method

    def append_exposures(self, rows: Sequence[Exposure]) -> AppendResult:
        """Store exposures, ignoring known ``exposure_id`` s; returns after commit."""
        values = [
            (
                r.exposure_id,
                r.experiment,
                r.variant,
                r.phase,
                r.unit_type,
                r.unit_id,
                r.config_version,
                r.exposed_at,
            )
            for r in docs.check_rows(rows, Exposure)
        ]
        return self._append("exposures", "exposure_id", _EXPOSURE_COLUMNS, values)

    def append_events(self, rows: Sequence[Event]) -> AppendResult:
        """Store events, ignoring known ``event_id`` s; returns after commit."""
        values = [
            (r.event_id, r.unit_type, r.unit_id, r.name, r.value, r.occurred_at, r.properties)
            for r in docs.check_rows(rows, Event)
        ]
        return self._append("events", "event_id", _EVENT_COLUMNS, values)

    def read_exposures(
        self,
        *,
        experiment: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pl.DataFrame:
        """Exposures with ``since <= exposed_at < until``, ordered by time (``EXPOSURE_SCHEMA``)."""
        docs.check_time_range(since, until)
        where = _time_filter("exposed_at", since, until)
        if experiment is not None:
            where.append(sql.SQL("experiment = {}").format(sql.Literal(experiment)))
        return self._read("exposures", EXPOSURE_SCHEMA, "exposed_at", "exposure_id", where)

    def read_events(
        self,
        *,
        names: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pl.DataFrame:
        """Events with ``since <= occurred_at < until``, ordered by time (``EVENT_SCHEMA``)."""
        wanted = docs.check_names(names)
        docs.check_time_range(since, until)
        where = _time_filter("occurred_at", since, until)
        if wanted is not None:
            if not wanted:
                return pl.DataFrame(schema=EVENT_SCHEMA)
            where.append(sql.SQL("name = ANY({})").format(sql.Literal(wanted)))
        return self._read("events", EVENT_SCHEMA, "occurred_at", "event_id", where)

    def close(self) -> None:
        """Release the database if this store owns it (idempotent)."""
        if self._owns:
            self._owns = False
            self.db.release()

    def _append(
        self, table: str, id_column: str, columns: tuple[str, ...], values: list[tuple[Any, ...]]
    ) -> AppendResult:
        if not values:
            return AppendResult(accepted=0, duplicates=0)
        cols = sql.SQL(", ").join(map(sql.Identifier, columns))
        with (
            self.db.transaction(
                f"appending {len(values)} {table}", timeout_s=self.db.bulk_timeout_s
            ) as conn,
            conn.cursor() as cur,
        ):
            if self.method == "insert":
                cur.executemany(
                    sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO NOTHING").format(
                        sql.Identifier(table),
                        cols,
                        sql.SQL(", ").join(sql.Placeholder() * len(columns)),
                        sql.Identifier(id_column),
                    ),
                    values,
                    returning=False,
                )
                inserted = cur.rowcount
            else:
                stage = sql.Identifier(f"abwb_stage_{table}")
                cur.execute(
                    sql.SQL(
                        "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) "
                        "ON COMMIT DELETE ROWS"
                    ).format(stage, sql.Identifier(table))
                )
                with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(stage, cols)) as copy:
                    for row in values:
                        copy.write_row(row)
                cur.execute(
                    sql.SQL(
                        "INSERT INTO {table} ({cols}) SELECT DISTINCT ON ({id}) {cols} "
                        "FROM {stage} ORDER BY {id} ON CONFLICT ({id}) DO NOTHING"
                    ).format(
                        table=sql.Identifier(table),
                        cols=cols,
                        id=sql.Identifier(id_column),
                        stage=stage,
                    )
                )
                inserted = cur.rowcount
        return AppendResult(accepted=inserted, duplicates=len(values) - inserted)

    def _read(
        self,
        table: str,
        schema: pl.Schema,
        time_column: str,
        id_column: str,
        where: list[sql.Composable],
    ) -> pl.DataFrame:
        selected = [
            sql.SQL("(extract(epoch FROM {c}) * 1000000)::bigint").format(c=sql.Identifier(name))
            if name == time_column
            else sql.Identifier(name)
            for name in schema
        ]
        strings = [sql.Identifier(n) for n, t in schema.items() if t == pl.String]
        query = sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(selected), sql.Identifier(table)
        )
        if where:
            query = sql.SQL("{} WHERE {}").format(query, sql.SQL(" AND ").join(where))
        # FORCE_QUOTE tells an empty string ("") from NULL (unquoted empty) in the CSV.
        copy_sql = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, FORCE_QUOTE ({}))").format(
            query, sql.SQL(", ").join(strings)
        )
        buffer = io.BytesIO()
        with (
            self.db.transaction(f"reading {table}", timeout_s=self.db.bulk_timeout_s) as conn,
            conn.cursor() as cur,
            cur.copy(copy_sql) as copy,
        ):
            for block in copy:
                buffer.write(block)
        raw = {name: (pl.Int64 if name == time_column else dtype) for name, dtype in schema.items()}
        if buffer.tell() == 0:
            frame = pl.DataFrame(schema=raw)
        else:
            buffer.seek(0)
            frame = pl.read_csv(buffer, has_header=False, schema=raw, quote_char='"')
        return frame.with_columns(
            pl.col(time_column).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
        ).sort(time_column, id_column)


def _time_filter(
    column: str, since: datetime | None, until: datetime | None
) -> list[sql.Composable]:
    where: list[sql.Composable] = []
    if since is not None:
        where.append(sql.SQL("{} >= {}").format(sql.Identifier(column), sql.Literal(since)))
    if until is not None:
        where.append(sql.SQL("{} < {}").format(sql.Identifier(column), sql.Literal(until)))
    return where
