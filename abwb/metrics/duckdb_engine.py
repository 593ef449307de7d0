"""The metric pipeline in DuckDB over polars/Arrow frames or Parquet files.

What belongs here: :class:`DuckDBEngine`, which registers the prepared sources on an
in-process DuckDB connection (polars frames zero-copy through Arrow, Parquet read
directly) as ``abwb_exposures`` / ``abwb_events`` and runs the SQL of
:mod:`abwb.metrics.sql_query` rendered for DuckDB — the same query PostgreSQL and
Spark run (:class:`~abwb.metrics.sql_engine.SqlEngine`), checked against the polars
reference engine. :class:`DuckDBRunner` is the runner over any DuckDB connection
(also a warehouse of DuckDB tables). DuckDB spills to disk when a pass does not fit
in memory.
"""

from __future__ import annotations

import os
from typing import Any, cast

import duckdb
import polars as pl

from abwb.metrics.inputs import PreparedSource
from abwb.metrics.sql_engine import SqlEngine
from abwb.metrics.sql_query import WarehouseTables

__all__ = ["DuckDBEngine", "DuckDBRunner", "sql_literal"]

_SQL_TYPES = {"phase": "INTEGER", "value": "DOUBLE"}


def sql_literal(text: str) -> str:
    """A SQL string literal.

    Examples:
        >>> sql_literal("it's")
        "'it''s'"
    """
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _cores() -> int:
    """CPUs this process may run on (respects affinity masks, unlike ``os.cpu_count``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


class DuckDBRunner:
    """Runs SQL on a DuckDB connection.

    Args:
        connection: An open DuckDB connection.
        owns: Close the connection with the runner.
    """

    dialect = "duckdb"

    def __init__(self, connection: duckdb.DuckDBPyConnection, *, owns: bool = False) -> None:
        self.con = connection
        self._owns = owns

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        """All rows of a query."""
        return self.con.execute(sql).fetchall()

    def fetch_frame(self, sql: str) -> pl.DataFrame:
        """A query's result as a polars frame (through Arrow)."""
        return cast(pl.DataFrame, self.con.sql(sql).pl())  # duckdb types .pl() as Any

    def close(self) -> None:
        """Close the connection when owned."""
        if self._owns:
            self.con.close()


class DuckDBEngine(SqlEngine):
    """Runs the pipeline in DuckDB.

    Args:
        exposures: Prepared exposures.
        events: Prepared events.
        threads: DuckDB worker threads (``None``: the CPUs this process may use).
    """

    name = "duckdb"

    def __init__(
        self, exposures: PreparedSource, events: PreparedSource, *, threads: int | None = None
    ) -> None:
        self.con = duckdb.connect()
        super().__init__(DuckDBRunner(self.con, owns=True),
                         WarehouseTables("abwb_exposures", "abwb_events"))
        self.con.execute(f"SET threads = {int(threads) if threads is not None else _cores()}")
        # No result depends on row order (each is grouped, sorted or re-sorted by the
        # caller), so DuckDB may write temp tables and results in any order.
        self.con.execute("SET preserve_insertion_order = false")
        self._install(exposures, "abwb_exposures")
        self._install(events, "abwb_events")

    def _install(self, source: PreparedSource, view: str) -> None:
        if source.parquet is not None:
            files = ", ".join(sql_literal(f) for f in source.parquet)
            cols = ", ".join(self._cast(c, source) for c in source.columns)
            self.con.execute(
                f"CREATE OR REPLACE VIEW {view} AS SELECT {cols} "
                f"FROM read_parquet([{files}], union_by_name = true)"
            )
        else:
            # Already in contract dtypes. Handing DuckDB the Arrow export with string
            # views (polars' native string layout) is zero-copy; the default export
            # would first copy every string column into large_string.
            frame = source.lazy.collect()
            self.con.register(view, frame.to_arrow(compat_level=pl.CompatLevel.newest()))

    @staticmethod
    def _cast(column: str, source: PreparedSource) -> str:
        dtype = source.lazy.collect_schema()[column]
        if isinstance(dtype, pl.Datetime):
            sql_type = "TIMESTAMPTZ"
        elif dtype == pl.String:
            sql_type = "VARCHAR"
        else:
            sql_type = _SQL_TYPES.get(column, "DOUBLE")
        return f"CAST({_ident(column)} AS {sql_type}) AS {_ident(column)}"
