"""The pipeline engine that runs the generated SQL on any SQL runner.

What belongs here: :class:`SqlRunner` (the small port a query engine provides:
a sqlglot dialect name, ``fetch`` rows, ``fetch_frame``, ``close``),
:class:`SqlEngine` (a :class:`~abwb.metrics.engine.PipelineEngine` that renders
:mod:`abwb.metrics.sql_query` for the runner's dialect and turns the aggregate rows
into an :class:`~abwb.metrics.engine.EngineOutput`) and :func:`output_from_rows`, that
conversion, shared with :func:`abwb.metrics.aggregates.from_aggregates`. DuckDB,
PostgreSQL and Spark all go through :class:`SqlEngine`; their runners live in
:mod:`abwb.metrics.duckdb_engine` and :mod:`abwb.metrics.warehouse`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import polars as pl
import sqlglot

from abwb.metrics.audit import audit_from_rows, audit_gate
from abwb.metrics.engine import EngineOutput, PipelineRequest
from abwb.metrics.results import STATS_SCHEMA
from abwb.metrics.sql_query import (
    WarehouseTables,
    aggregates_query,
    audit_query,
    pairs_query,
    render,
    unit_days_query,
    units_query,
)

__all__ = ["SqlEngine", "SqlRunner", "output_from_rows"]


class SqlRunner(Protocol):
    """Runs SQL text on one query engine."""

    dialect: str

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        """All rows of a query."""
        ...

    def fetch_frame(self, sql: str) -> pl.DataFrame:
        """A query's result as a polars frame (unit-level results of embedded engines)."""
        ...

    def close(self) -> None:
        """Release the runner's connection or session, when it owns one."""
        ...


def output_from_rows(rows: Sequence[Sequence[Any]]) -> EngineOutput:
    """Assemble an engine output from aggregates-query rows.

    Args:
        rows: Rows in :data:`abwb.metrics.sql_query.AGGREGATE_COLUMNS` order.

    Returns:
        The output (no unit frame, no pairs, no audit).
    """
    stats: list[tuple[Any, ...]] = []
    exposures: dict[str, int] = {}
    units: dict[str, int] = {}
    scalars = {"crossovers": 0, "pre_events": 0}
    for row in rows:
        section, variant, n = row[0], row[2], row[3]
        if section == "stats":
            stats.append(tuple(row[1:]))
        elif section == "exposures":
            exposures[str(variant)] = int(n)
        elif section == "units":
            units[str(variant)] = int(n)
        else:
            scalars[str(section)] = int(n or 0)
    frame = pl.DataFrame(stats, schema=STATS_SCHEMA, orient="row").sort("metric", "variant")
    return EngineOutput(
        stats=frame, units=None,
        exposures_per_variant=dict(sorted(exposures.items())),
        units_per_variant=dict(sorted(units.items())),
        crossover_units=scalars["crossovers"],
        events_before_exposure=scalars["pre_events"],
    )


class SqlEngine:
    """The pipeline as SQL pushed down to a query engine; only aggregates come back.

    Args:
        runner: Where the SQL runs.
        tables: Table and column names of the exposures and events there.
        owns: Close the runner with the engine.

    Attributes:
        rows_fetched: Rows returned to this process so far (aggregates, audit counts,
            and unit-level rows only when asked for).
    """

    def __init__(self, runner: SqlRunner, tables: WarehouseTables, *, owns: bool = True) -> None:
        self.runner = runner
        self.tables = tables
        self.name = runner.dialect
        self.rows_fetched = 0
        self._owns = owns

    def _fetch(self, sql: str) -> list[tuple[Any, ...]]:
        rows = self.runner.fetch(sql)
        self.rows_fetched += len(rows)
        return rows

    def latest_phase(self, experiment: str) -> int | None:
        """Highest phase with exposures of ``experiment``."""
        c = self.tables.column
        sql = render(_parse(
            f"SELECT max({c('phase')}) FROM {self.tables.table('exposures')} "
            f"WHERE {c('experiment')} = {_lit(experiment)}"), self.runner.dialect)
        value = self._fetch(sql)[0][0]
        return None if value is None else int(value)

    def data_span_us(self, experiment: str) -> tuple[int, int] | None:
        """First exposure and last exposure-or-event instant (epoch µs)."""
        c = self.tables.column
        sql = render(_parse(
            f"SELECT min(ABWB_EPOCH_US({c('exposed_at')})), max(ABWB_EPOCH_US({c('exposed_at')})),"
            f" (SELECT max(ABWB_EPOCH_US({c('occurred_at')})) FROM {self.tables.table('events')})"
            f" FROM {self.tables.table('exposures')} WHERE {c('experiment')} = {_lit(experiment)}"
        ), self.runner.dialect)
        lo, hi, last = self._fetch(sql)[0]
        if lo is None:
            return None
        return int(lo), max(int(hi), int(last if last is not None else hi))

    def last_exposures_us(self, experiments: Sequence[str], *,
                          before_us: int) -> dict[str, int]:
        """Latest exposure instant (epoch µs) before ``before_us`` per experiment key.

        One query for all of them (the monitor's exposure-health check); experiments
        without exposures are absent.
        """
        if not experiments:
            return {}
        c = self.tables.column
        keys = ", ".join(_lit(k) for k in experiments)
        sql = render(_parse(
            f"SELECT {c('experiment')}, max(ABWB_EPOCH_US({c('exposed_at')})) "
            f"FROM {self.tables.table('exposures')} WHERE {c('experiment')} IN ({keys}) "
            f"AND ABWB_EPOCH_US({c('exposed_at')}) < {int(before_us)} "
            f"GROUP BY {c('experiment')}"), self.runner.dialect)
        return {str(k): int(t) for k, t in self._fetch(sql) if t is not None}

    def run(self, request: PipelineRequest) -> EngineOutput:
        """Run one pass; see :class:`~abwb.metrics.engine.PipelineEngine`."""
        dialect = self.runner.dialect
        out = output_from_rows(self._fetch(render(aggregates_query(request, self.tables),
                                                   dialect)))
        units = pairs = audit = None
        if request.keep_units:
            units = self.runner.fetch_frame(render(units_query(request, self.tables), dialect))
            self.rows_fetched += units.height
        if request.keep_pairs:
            pairs = self.runner.fetch_frame(render(pairs_query(request, self.tables), dialect))
            self.rows_fetched += pairs.height
        if request.audit is not None:
            audit = audit_gate(request.audit, request.phase)
            if audit is None:
                query = audit_query(request, self.tables, request.audit,
                                    layer_salt=request.layer_salt)
                audit = audit_from_rows(self._fetch(render(query, dialect)))
        return EngineOutput(
            stats=out.stats, units=units, exposures_per_variant=out.exposures_per_variant,
            units_per_variant=out.units_per_variant, crossover_units=out.crossover_units,
            events_before_exposure=out.events_before_exposure, pairs=pairs, audit=audit)

    def unit_days(self, request: PipelineRequest) -> list[tuple[Any, ...]]:
        """Rows of :func:`~abwb.metrics.sql_query.unit_days_query`, run where the data is."""
        return self._fetch(render(unit_days_query(request, self.tables), self.runner.dialect))

    def close(self) -> None:
        """Close the runner when this engine owns it."""
        if self._owns:
            self.runner.close()


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _parse(sql: str) -> Any:
    return sqlglot.parse_one(sql)
