"""The metric pipeline as DuckDB SQL over polars/Arrow frames or Parquet files.

What belongs here: :class:`DuckDBEngine`, which registers the prepared sources on an
in-process DuckDB connection (polars frames zero-copy through Arrow, Parquet read
directly) and runs the pipeline as SQL:

1. ``abwb_exp``: the phase's exposures (up to ``as_of``).
2. ``abwb_all_units``: first exposure per ``(unit_type, unit_id)``, whether the unit is
   a crossover, and a dense integer surrogate key ``uid`` (``row_number()``).
3. ``abwb_units``: the analysed units (crossovers excluded unless ``crossovers="first"``).
4. ``abwb_unit_values``: the metrics' events joined to the analysed units once on the
   string key, then grouped by the integer ``uid`` with one ``FILTER`` aggregate per
   metric part (one scan of the events for all metrics), left-joined back on ``uid``.
5. Capping thresholds, then one grouped scan of the unit values for every metric's
   per-variant sums, reshaped to one row per metric × variant.

The SQL is plain enough to run in a warehouse (temp tables, CTEs, ``FILTER``,
``row_number()``); DuckDB spills to disk when a pass does not fit in memory.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import cast

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


def _cores() -> int:
    """CPUs this process may run on (respects affinity masks, unlike ``os.cpu_count``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


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
        threads: DuckDB worker threads (``None``: the CPUs this process may use).
    """

    name = "duckdb"

    def __init__(
        self, exposures: PreparedSource, events: PreparedSource, *, threads: int | None = None
    ) -> None:
        self.con = duckdb.connect()
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
        # One row per unit. `uid` is a dense integer surrogate key: the string key
        # (unit_type, unit_id) is matched once, against the events, and everything
        # after that joins and groups on the integer. A unit is a crossover when it was
        # logged in more than one variant; min <> max says so without the cost of a
        # count(DISTINCT variant) (and, like it, ignores NULL variants). The unit's
        # variant is that of its first exposure, ties broken by variant name; when
        # crossovers are excluded every kept unit has a single variant, so min(variant)
        # is that variant and the costlier ordered aggregate is not needed.
        exclude = request.crossovers == "exclude"
        first_variant = "min(variant)" if exclude else "first(variant ORDER BY t, variant)"
        self.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE abwb_all_units AS
            SELECT row_number() OVER () AS uid, unit_type, unit_id, min(t) AS first_t,
                   {first_variant} AS variant, min(variant) <> max(variant) AS crossover
            FROM abwb_exp GROUP BY unit_type, unit_id""")
        keep = "NOT crossover" if exclude else "TRUE"
        self.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE abwb_units AS
            SELECT uid, unit_type, unit_id, first_t, variant FROM abwb_all_units WHERE {keep}""")
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
                "SELECT count(*) FROM abwb_all_units WHERE crossover"),
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
        # unit_events: the metrics' events of analysed units (the inner join is also the
        # semi-join that drops everyone else's events), tagged with the unit's integer
        # key and dt = occurred_at - first exposure. per_unit: one pass over those events
        # for every metric part, a FILTER aggregate per window, grouped on the integer
        # key; units without events get their zeros from the LEFT JOIN's coalesce.
        self.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE abwb_unit_values AS
            WITH unit_events AS (
                SELECT u.uid, e.name{extra}, epoch_us(e.occurred_at) - u.first_t AS dt
                FROM abwb_events e
                JOIN abwb_units u ON e.unit_type = u.unit_type AND e.unit_id = u.unit_id
                WHERE e.name IN ({", ".join(sql_literal(n) for n in names)}) {cut}
            ), per_unit AS (
                SELECT uid, count(*) FILTER (WHERE dt < 0) AS pre_events, {", ".join(aggs)}
                FROM unit_events GROUP BY uid
            )
            SELECT u.unit_type, u.unit_id, u.variant, u.first_t,
                   coalesce(a.pre_events, 0) AS pre_events, {", ".join(outs)}
            FROM abwb_units u LEFT JOIN per_unit a ON a.uid = u.uid
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
        # One scan of the unit values for all metrics: `capped` caps each metric's
        # value (y{i}) and covariate (x{i}); `sums` holds every metric's per-variant sums
        # side by side (a metric counts only units with a value: FILTER y IS NOT NULL);
        # the UNION ALL reshapes that small table to one row per metric × variant.
        capped = ["variant"]
        sums = ["variant"]
        selects = []
        for i, p in enumerate(plans):
            y, x, d = f"y{i}", f"x{i}", p.column("den")
            capped.append(f"{_cap(p.column('y'), caps[p.column('y')])} AS {y}")
            has = f"FILTER (WHERE {y} IS NOT NULL)"
            sums += [f"count({y}) AS n{i}", f"sum({y}) AS total{i}",
                     f"sum({y} * {y}) AS total_sq{i}"]
            if p.is_ratio:
                capped.append(d)
                sums += [f"sum({d}) {has} AS e1_{i}", f"sum({d} * {d}) {has} AS e2_{i}",
                         f"sum({y} * {d}) {has} AS e3_{i}"]
                cols = ("NULL", "NULL", "NULL", f"e1_{i}", f"e2_{i}", f"e3_{i}")
            elif p.covariate is not None:
                capped.append(
                    f"coalesce({_cap(p.column('x'), caps[p.column('x')])}, 0.0) AS {x}")
                sums += [f"sum({x}) {has} AS e1_{i}", f"sum({x} * {x}) {has} AS e2_{i}",
                         f"sum({x} * {y}) {has} AS e3_{i}"]
                cols = (f"e1_{i}", f"e2_{i}", f"e3_{i}", "NULL", "NULL", "NULL")
            else:
                cols = ("NULL",) * 6
            typed = ", ".join(f"CAST({c} AS DOUBLE) AS {n}" for c, n in zip(
                cols, list(STATS_SCHEMA)[5:], strict=True))
            # A variant without a valued unit has no row (stats_from_frame reports n = 0).
            selects.append(f"""
                SELECT {sql_literal(p.key)} AS metric, variant, n{i} AS n, total{i} AS total,
                       total_sq{i} AS total_sq, {typed}
                FROM abwb_sums WHERE n{i} > 0""")
        self.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE abwb_sums AS
            WITH capped AS (SELECT {", ".join(capped)} FROM abwb_unit_values)
            SELECT {", ".join(sums)} FROM capped GROUP BY variant""")
        frame = cast(pl.DataFrame, self.con.sql(" UNION ALL ".join(selects)).pl())
        return frame.cast(STATS_SCHEMA).sort("metric", "variant")

    def _units(self, plans: Sequence[MetricPlan], caps: dict[str, float | None]) -> pl.DataFrame:
        cols = [f"{_cap(p.column(n), caps[p.column(n)])} AS {p.column(n)}"
                for p in plans for n, _ in p.parts()]
        units = self.con.sql(
            f"SELECT unit_type, unit_id, variant, first_t, {', '.join(cols)} "
            "FROM abwb_unit_values").pl()
        return cast(pl.DataFrame, units)  # duckdb types .pl() as Any

    def _counts(self, query: str) -> dict[str, int]:
        rows = self.con.execute(f"{query} GROUP BY variant ORDER BY variant").fetchall()
        return {str(v): int(n) for v, n in rows}

    def _scalar(self, query: str) -> int:
        row = self.con.execute(query).fetchall()[0]
        return 0 if row is None or row[0] is None else int(row[0])

    def close(self) -> None:
        """Close the DuckDB connection."""
        self.con.close()
