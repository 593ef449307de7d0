"""The metric pipeline as DuckDB SQL over polars/Arrow frames or Parquet files.

What belongs here: :class:`DuckDBEngine`, which registers the prepared sources on an
in-process DuckDB connection (polars frames zero-copy through Arrow, Parquet read
directly) and runs the pipeline as SQL: first exposure per unit → one grouped pass
over the metrics' events with a ``FILTER`` aggregate per metric part → capping →
per-variant sums. The SQL is plain enough to run in a warehouse; DuckDB spills to
disk when a pass does not fit in memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import polars as pl

from abwb.metrics.engine import EngineOutput, PipelineRequest
from abwb.metrics.inputs import PreparedSource
from abwb.metrics.plan import MetricPlan, ValuePlan
from abwb.metrics.results import STATS_SCHEMA

__all__ = ["DuckDBEngine", "sql_literal"]

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


def _window(part: ValuePlan) -> str:
    cond = f"name = {sql_literal(part.event)} AND dt >= {part.start_us}"
    if part.end_us is not None:
        cond += f" AND dt < {part.end_us}"
    return cond


def _aggregate(part: ValuePlan, alias: str) -> str:
    where = f"FILTER (WHERE {_window(part)})"
    col = _ident(part.value_column) if part.value_column else None
    if part.how == "any":
        expr = f"CAST(count(*) {where} > 0 AS DOUBLE)"
    elif part.how == "count":
        expr = f"CAST(count(*) {where} AS DOUBLE)"
    elif part.how == "sum":
        expr = f"sum({col}) {where}"
    else:  # mean: the same formula as the polars engine, Σ value / #valued events
        expr = f"sum({col}) {where} / nullif(count({col}) {where}, 0)"
    return f"{expr} AS {alias}"


def _cap(column: str, threshold: float | None) -> str:
    # CASE rather than least(): least() skips NULLs and would turn a unit without a
    # mean into the cap.
    if threshold is None:
        return column
    return f"CASE WHEN {column} > {threshold!r} THEN {threshold!r} ELSE {column} END"


class DuckDBEngine:
    """Runs the pipeline in DuckDB.

    Args:
        exposures: Prepared exposures.
        events: Prepared events.
        threads: DuckDB worker threads (``None``: DuckDB's default).
    """

    name = "duckdb"

    def __init__(
        self, exposures: PreparedSource, events: PreparedSource, *, threads: int | None = None
    ) -> None:
        self.con = duckdb.connect()
        if threads is not None:
            self.con.execute(f"SET threads = {int(threads)}")
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
            # Already in contract dtypes; polars → Arrow → DuckDB without a copy.
            self.con.register(view, source.lazy.collect())

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

    def latest_phase(self, experiment: str) -> int | None:
        """Highest phase with exposures of ``experiment``."""
        row = self.con.execute(
            f"SELECT max(phase) FROM abwb_exposures WHERE experiment = {sql_literal(experiment)}"
        ).fetchall()[0]
        return None if row is None or row[0] is None else int(row[0])

    def data_span_us(self, experiment: str) -> tuple[int, int] | None:
        """First exposure and last exposure-or-event instant (epoch µs)."""
        row = self.con.sql(
            f"""SELECT min(epoch_us(exposed_at)), max(epoch_us(exposed_at)),
                       (SELECT max(epoch_us(occurred_at)) FROM abwb_events)
                FROM abwb_exposures WHERE experiment = {sql_literal(experiment)}"""
        ).fetchall()[0]
        if row is None or row[0] is None:
            return None
        return int(row[0]), max(int(row[1]), int(row[2] if row[2] is not None else row[1]))

    def run(self, request: PipelineRequest) -> EngineOutput:
        """Run one pass; see :class:`~abwb.metrics.engine.PipelineEngine`."""
        cut = "" if request.as_of_us is None else f"AND epoch_us({{col}}) < {request.as_of_us}"
        self.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE abwb_exp AS
            SELECT unit_type, unit_id, variant, epoch_us(exposed_at) AS t FROM abwb_exposures
            WHERE experiment = {sql_literal(request.experiment)} AND phase = {request.phase}
                  {cut.format(col="exposed_at")}""")
        self.con.execute("""
            CREATE OR REPLACE TEMP TABLE abwb_all_units AS
            SELECT unit_type, unit_id, min(t) AS first_t,
                   first(variant ORDER BY t, variant) AS variant,
                   count(DISTINCT variant) AS n_variants
            FROM abwb_exp GROUP BY unit_type, unit_id""")
        keep = "n_variants = 1" if request.crossovers == "exclude" else "TRUE"
        self.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE abwb_units AS
            SELECT unit_type, unit_id, first_t, variant FROM abwb_all_units WHERE {keep}""")
        self._unit_values(request.plans, cut.format(col="e.occurred_at"))
        caps = self._thresholds(request.plans)
        stats = self._stats(request.plans, caps)
        units = self._units(request.plans, caps) if request.keep_units else None
        pairs = (
            self.con.sql("SELECT DISTINCT unit_type, unit_id, variant FROM abwb_exp").pl()
            if request.keep_pairs else None
        )
        return EngineOutput(
            stats=stats,
            units=units,
            exposures_per_variant=self._counts("SELECT variant, count(*) FROM abwb_exp"),
            units_per_variant=self._counts("SELECT variant, count(*) FROM abwb_units"),
            crossover_units=self._scalar(
                "SELECT count(*) FROM abwb_all_units WHERE n_variants > 1"),
            events_before_exposure=self._scalar(
                "SELECT coalesce(sum(pre_events), 0) FROM abwb_unit_values"),
            pairs=pairs,
        )

    def _unit_values(self, plans: Sequence[MetricPlan], cut: str) -> None:
        names = sorted({part.event for p in plans for _, part in p.parts()})
        value_cols = sorted({part.value_column for p in plans for _, part in p.parts()
                             if part.value_column})
        extra = "".join(f", e.{_ident(c)}" for c in value_cols)
        aggs = [_aggregate(part, p.column(name)) for p in plans for name, part in p.parts()]
        outs = []
        for p in plans:
            for name, part in p.parts():
                col = f"a.{p.column(name)}"
                # A unit without any event has no aggregate row: 0 (or null for a mean).
                outs.append(col if part.how == "mean" else f"coalesce({col}, 0.0)")
                outs[-1] += f" AS {p.column(name)}"
        self.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE abwb_unit_values AS
            WITH ev AS (
                SELECT e.unit_type, e.unit_id, e.name{extra},
                       epoch_us(e.occurred_at) - u.first_t AS dt
                FROM abwb_events e
                JOIN abwb_units u ON e.unit_type = u.unit_type AND e.unit_id = u.unit_id
                WHERE e.name IN ({", ".join(sql_literal(n) for n in names)}) {cut}
            ), a AS (
                SELECT unit_type, unit_id, count(*) FILTER (WHERE dt < 0) AS pre_events,
                       {", ".join(aggs)}
                FROM ev GROUP BY unit_type, unit_id
            )
            SELECT u.unit_type, u.unit_id, u.variant, u.first_t,
                   coalesce(a.pre_events, 0) AS pre_events, {", ".join(outs)}
            FROM abwb_units u LEFT JOIN a ON u.unit_type = a.unit_type AND u.unit_id = a.unit_id
        """)

    def _thresholds(self, plans: Sequence[MetricPlan]) -> dict[str, float | None]:
        caps: dict[str, float | None] = {}
        quantiles: list[tuple[str, str]] = []
        for p in plans:
            for name, _ in p.parts():
                col = p.column(name)
                if name == "den":
                    caps[col] = None
                elif p.cap_percentile is not None:
                    quantiles.append((col, f"quantile_cont({col}, {p.cap_percentile!r})"))
                else:
                    caps[col] = p.cap_absolute
        if quantiles:
            row = self.con.execute(
                f"SELECT {', '.join(q for _, q in quantiles)} FROM abwb_unit_values"
            ).fetchall()[0]
            assert row is not None
            for (col, _), value in zip(quantiles, row, strict=True):
                caps[col] = None if value is None else float(value)
        return caps

    def _stats(self, plans: Sequence[MetricPlan], caps: dict[str, float | None]) -> pl.DataFrame:
        selects = []
        for p in plans:
            y = _cap(p.column("y"), caps[p.column("y")])
            if p.is_ratio:
                d = p.column("den")
                cols = ("NULL", "NULL", "NULL", f"sum({d})", f"sum({d} * {d})",
                        f"sum(y * {d})")
            elif p.covariate is not None:
                x = f"coalesce({_cap(p.column('x'), caps[p.column('x')])}, 0.0)"
                cols = (f"sum({x})", f"sum({x} * {x})", f"sum({x} * y)", "NULL", "NULL", "NULL")
            else:
                cols = ("NULL",) * 6
            typed = ", ".join(f"CAST({c} AS DOUBLE) AS {n}" for c, n in zip(
                cols, list(STATS_SCHEMA)[5:], strict=True))
            selects.append(f"""
                SELECT {sql_literal(p.key)} AS metric, variant, count(*) AS n, sum(y) AS total,
                       sum(y * y) AS total_sq, {typed}
                FROM (SELECT *, {y} AS y FROM abwb_unit_values) WHERE y IS NOT NULL
                GROUP BY variant""")
        frame = self.con.sql(" UNION ALL ".join(selects)).pl()
        return frame.cast(dict(STATS_SCHEMA)).sort("metric", "variant")  # type: ignore[arg-type]

    def _units(self, plans: Sequence[MetricPlan], caps: dict[str, float | None]) -> pl.DataFrame:
        cols = [f"{_cap(p.column(n), caps[p.column(n)])} AS {p.column(n)}"
                for p in plans for n, _ in p.parts()]
        return self.con.sql(
            f"SELECT unit_type, unit_id, variant, first_t, {', '.join(cols)} "
            "FROM abwb_unit_values").pl()

    def _counts(self, query: str) -> dict[str, int]:
        rows = self.con.execute(f"{query} GROUP BY variant ORDER BY variant").fetchall()
        return {str(v): int(n) for v, n in rows}

    def _scalar(self, query: str) -> int:
        row = self.con.execute(query).fetchall()[0]
        return 0 if row is None or row[0] is None else int(row[0])

    def close(self) -> None:
        """Close the DuckDB connection."""
        self.con.close()
