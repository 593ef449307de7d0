"""The metric pipeline as one SQL query: a sqlglot tree built once, rendered per dialect.

What belongs here: turning a :class:`~abwb.metrics.engine.PipelineRequest` (metric
plans, phase, cut-off, crossover policy) and the warehouse's table and column names
into SQL. The tree is written once in a neutral dialect with three placeholder
functions — ``ABWB_EPOCH_US(ts)``, ``ABWB_QUANTILE(x, q)`` and
``ABWB_BUCKET(salt, unit)`` — that :func:`render` replaces with each dialect's own
expression (:data:`EPOCH_US`, :data:`QUANTILE`,
:data:`abwb.assignment.sql.BUCKET_EXPRESSIONS`) before sqlglot prints it. DuckDB,
PostgreSQL and Spark run the result; BigQuery, Snowflake and Trino get it printed
(``abwb sql``). Nothing here opens a connection.

The query's CTEs follow :mod:`abwb.metrics.plan`'s conventions, step for step as the
polars reference engine does them:

1. ``abwb_exp``: the phase's exposures before the cut-off, times in epoch µs.
2. ``abwb_all_units``: first exposure per unit and whether it is a crossover
   (``min(variant) <> max(variant)``); ``abwb_units`` keeps the analysed units (with
   ``crossovers="first"`` the variant of the first exposure, ties by variant name).
3. ``abwb_unit_events`` → ``abwb_per_unit``: the metrics' events of analysed units
   with ``dt = occurred_at - first exposure``, one ``sum(CASE WHEN window ...)`` per
   metric part; ``abwb_values`` left-joins them back (0 without events, NULL means).
4. ``abwb_caps`` (percentile caps over the pooled units) → ``abwb_capped``.
5. ``abwb_sums``: per variant n, Σy, Σy², Σx, Σx², Σxy, Σden, Σden², Σy·den.

The aggregates query returns :data:`AGGREGATE_COLUMNS` rows in sections ``stats``
(one per metric × variant with n > 0), ``exposures`` and ``units`` (per variant),
``crossovers`` and ``pre_events``: O(variants × metrics) rows, whatever the data size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import sqlglot
from sqlglot import exp

from abwb.assignment.sql import BUCKET_EXPRESSIONS, variant_sql
from abwb.errors import InvalidInput
from abwb.metrics.engine import PipelineRequest
from abwb.metrics.plan import MetricPlan, ValuePlan

if TYPE_CHECKING:
    from abwb.config.experiment import Experiment

__all__ = [
    "AGGREGATE_COLUMNS",
    "AUDIT_COLUMNS",
    "DIALECTS",
    "EPOCH_US",
    "QUANTILE",
    "WarehouseTables",
    "aggregates_query",
    "audit_query",
    "pairs_query",
    "render",
    "unit_days_query",
    "units_query",
]

#: Dialects the query renders to (sqlglot names); the first three are executed by abwb.
DIALECTS = ("duckdb", "postgres", "spark", "bigquery", "snowflake", "trino")

#: Epoch microseconds of a timestamp, per dialect (``{0}`` is the timestamp).
EPOCH_US: dict[str, str] = {
    "duckdb": "epoch_us({0})",
    # EXTRACT(EPOCH ...) is numeric (exact) since PostgreSQL 14.
    "postgres": "CAST(EXTRACT(EPOCH FROM {0}) * 1000000 AS BIGINT)",
    "spark": "unix_micros({0})",
    "bigquery": "UNIX_MICROS({0})",
    "snowflake": "DATE_PART(EPOCH_MICROSECOND, {0})",
    # to_unixtime is a double: exact to the microsecond for current dates.
    "trino": "CAST(round(to_unixtime({0}) * 1000000) AS BIGINT)",
}

#: Linear-interpolation quantile ``{0}`` at fraction ``{1}`` over a group, per dialect.
#: BigQuery and Trino have no exact aggregate quantile: their percentile caps are
#: approximate (documented in docs/warehouse.md).
QUANTILE: dict[str, str] = {
    "duckdb": "quantile_cont({0}, {1})",
    "postgres": "percentile_cont({1}) WITHIN GROUP (ORDER BY {0})",
    "spark": "percentile({0}, {1})",
    "bigquery": "APPROX_QUANTILES({0}, 1000)[OFFSET({2})]",
    "snowflake": "percentile_cont({1}) WITHIN GROUP (ORDER BY {0})",
    "trino": "approx_percentile({0}, {1})",
}

#: Columns of the aggregates query, in order.
AGGREGATE_COLUMNS = (
    "section", "metric", "variant", "n", "total", "total_sq", "covariate_total",
    "covariate_total_sq", "cross_total", "den_total", "den_total_sq", "num_den_total",
)
#: Columns of the audit query: section (audited, mismatch, outside, excluded, example),
#: a label (variant or unit id) and a count.
AUDIT_COLUMNS = ("section", "label", "n")

_NUMBERS = AGGREGATE_COLUMNS[4:]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True, slots=True)
class WarehouseTables:
    """Where exposures and events live in a warehouse, and what their columns are called.

    A table name is split on dots outside quotes; a part may be quoted with double
    quotes or backticks, so a Spark path-based table such as
    ``parquet.`/data/exposures` `` (a path may hold dots) or a PostgreSQL
    ``"My Schema".exposures`` both work. Every part is quoted when rendered.

    Args:
        exposures: Exposures table, optionally qualified (``schema.table``).
        events: Events table, optionally qualified.
        columns: Contract column name → the table's column name, for existing tables
            whose names differ (e.g. ``{"unit_id": "user_id", "occurred_at": "ts"}``).
            Metric value columns are mapped the same way.

    Raises:
        InvalidInput: an empty table name, an unbalanced quote or a mapping to an empty
            name.

    Examples:
        >>> WarehouseTables("parquet.`/data/v1.2/exposures`").table("exposures")
        '"parquet"."/data/v1.2/exposures"'
    """

    exposures: str = "exposures"
    events: str = "events"
    columns: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("exposures", "events"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise InvalidInput(f"expected a table name, got {value!r}", path=f"tables.{name}")
            _name_parts(value, path=f"tables.{name}")
        for key, value in self.columns.items():
            if not isinstance(value, str) or not value:
                raise InvalidInput(f"expected a column name, got {value!r}",
                                   path=f"tables.columns.{key}")

    def table(self, which: str) -> str:
        """The quoted, possibly qualified name of ``exposures`` or ``events``."""
        return ".".join(_q(part) for part in _name_parts(getattr(self, which),
                                                         path=f"tables.{which}"))

    def column(self, name: str) -> str:
        """The quoted warehouse column holding contract column ``name``."""
        return _q(self.columns.get(name, name))

    @classmethod
    def parse(cls, text: str, *, path: str) -> WarehouseTables:
        """Tables from ``exposures=TABLE,events=TABLE`` (a CLI option or a setting).

        Args:
            text: Comma-separated ``exposures=…`` and ``events=…`` (both required;
                commas and ``=`` inside quotes are part of the name).
            path: Where the text came from, for errors (``--warehouse-tables``).

        Returns:
            The tables (no column mapping).

        Raises:
            InvalidInput: an unknown or repeated key, a missing table, an empty name
                or an unbalanced quote, naming ``path`` and the key.

        Examples:
            >>> t = WarehouseTables.parse(
            ...     "exposures=parquet.`/d/exposures`,events=parquet.`/d/events`", path="x")
            >>> t.table("events")
            '"parquet"."/d/events"'
            >>> WarehouseTables.parse("exposures=a.b", path="--warehouse-tables")
            Traceback (most recent call last):
            ...
            abwb.errors.InvalidInput: --warehouse-tables: missing events=TABLE; expected ...
        """
        expected = "expected exposures=TABLE,events=TABLE"
        found: dict[str, str] = {}
        for item in _split_unquoted(text, ",", path=path):
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep or key not in ("exposures", "events"):
                raise InvalidInput(f"unknown entry {item.strip()!r}; {expected}", path=path)
            if key in found:
                raise InvalidInput(f"{key} given twice; {expected}", path=path)
            if not value.strip():
                raise InvalidInput(f"{key}: expected a table name, got {value!r}", path=path)
            _name_parts(value.strip(), path=f"{path} {key}")
            found[key] = value.strip()
        for key in ("exposures", "events"):
            if key not in found:
                raise InvalidInput(f"missing {key}=TABLE; {expected}", path=path)
        return cls(found["exposures"], found["events"])


def _split_unquoted(text: str, sep: str, *, path: str) -> list[str]:
    """``text`` split on ``sep`` outside double quotes and backticks (kept as written)."""
    parts, current, quote = [], "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"`":
            quote = ch
        elif ch == sep:
            parts.append(current)
            current = ""
            continue
        current += ch
    if quote:
        raise InvalidInput(f"unbalanced {quote} in {text!r}", path=path)
    return [*parts, current]


def _name_parts(name: str, *, path: str) -> list[str]:
    """The parts of a dotted name, quotes removed (a doubled quote stands for itself)."""
    parts = []
    for raw in _split_unquoted(name, ".", path=path):
        part = raw.strip()
        if len(part) >= 2 and part[0] == part[-1] and part[0] in "\"`":
            part = part[1:-1].replace(part[0] * 2, part[0])
        if not part:
            raise InvalidInput(f"empty part in table name {name!r}", path=path)
        parts.append(part)
    return parts


# --------------------------------------------------------------------------- CTEs


def _exposures_cte(request: PipelineRequest, tables: WarehouseTables) -> str:
    c = tables.column
    cut = ""
    if request.as_of_us is not None:
        cut = f" AND ABWB_EPOCH_US({c('exposed_at')}) < {int(request.as_of_us)}"
    return f"""abwb_exp AS (
        SELECT {c('unit_type')} AS unit_type, {c('unit_id')} AS unit_id,
               {c('variant')} AS variant, ABWB_EPOCH_US({c('exposed_at')}) AS t
        FROM {tables.table('exposures')}
        WHERE {c('experiment')} = {_lit(request.experiment)}
              AND {c('phase')} = {int(request.phase)}{cut})"""


def _units_ctes(request: PipelineRequest) -> list[str]:
    ctes = ["""abwb_all_units AS (
        SELECT unit_type, unit_id, min(t) AS first_t, min(variant) AS vmin, max(variant) AS vmax
        FROM abwb_exp GROUP BY unit_type, unit_id)"""]
    if request.crossovers == "exclude":
        # Every kept unit has one variant, so min(variant) is it.
        ctes.append("""abwb_units AS (
            SELECT unit_type, unit_id, first_t, vmin AS variant
            FROM abwb_all_units WHERE vmin = vmax)""")
    else:
        # The variant of the first exposure, ties broken by variant name.
        ctes.append("""abwb_units AS (
            SELECT a.unit_type, a.unit_id, a.first_t, min(e.variant) AS variant
            FROM abwb_all_units a JOIN abwb_exp e
              ON e.unit_type = a.unit_type AND e.unit_id = a.unit_id AND e.t = a.first_t
            GROUP BY a.unit_type, a.unit_id, a.first_t)""")
    return ctes


def _value_alias(plans: Sequence[MetricPlan]) -> dict[str, str]:
    cols = sorted({part.value_column for p in plans for _, part in p.parts()
                   if part.value_column})
    return {c: f"val{i}" for i, c in enumerate(cols)}


def _window(part: ValuePlan) -> str:
    cond = f"name = {_lit(part.event)} AND dt >= {part.start_us}"
    if part.end_us is not None:
        cond += f" AND dt < {part.end_us}"
    return cond


def _aggregate(part: ValuePlan, values: Mapping[str, str]) -> str:
    cond = _window(part)
    hits = f"sum(CASE WHEN {cond} THEN 1 ELSE 0 END)"
    if part.how == "any":
        return f"CAST(CASE WHEN {hits} > 0 THEN 1 ELSE 0 END AS DOUBLE)"
    if part.how == "count":
        return f"CAST({hits} AS DOUBLE)"
    col = values[part.value_column or "value"]
    total = f"sum(CASE WHEN {cond} THEN {col} END)"
    if part.how == "sum":
        return total
    # mean: Σ value / #valued events, NULL (unit left out) without a valued event.
    return f"{total} / nullif(CAST(count(CASE WHEN {cond} THEN {col} END) AS DOUBLE), 0)"


def _values_ctes(request: PipelineRequest, tables: WarehouseTables) -> list[str]:
    plans = request.plans
    c = tables.column
    names = sorted({part.event for p in plans for _, part in p.parts()})
    values = _value_alias(plans)
    extra = "".join(f", CAST(e.{c(col)} AS DOUBLE) AS {alias}" for col, alias in values.items())
    cut = ""
    if request.as_of_us is not None:
        cut = f" AND ABWB_EPOCH_US(e.{c('occurred_at')}) < {int(request.as_of_us)}"
    aggs = ", ".join(f"{_aggregate(part, values)} AS {p.column(n)}"
                     for p in plans for n, part in p.parts())
    outs = []
    for p in plans:
        for n, part in p.parts():
            col = f"a.{p.column(n)}"
            # A unit without any event has no aggregate row: 0 (or NULL for a mean).
            outs.append(f"{col if part.how == 'mean' else f'coalesce({col}, 0.0)'} "
                        f"AS {p.column(n)}")
    return [
        f"""abwb_unit_events AS (
            SELECT u.unit_type, u.unit_id, e.{c('name')} AS name{extra},
                   ABWB_EPOCH_US(e.{c('occurred_at')}) - u.first_t AS dt
            FROM {tables.table('events')} e
            JOIN abwb_units u ON e.{c('unit_type')} = u.unit_type AND e.{c('unit_id')} = u.unit_id
            WHERE e.{c('name')} IN ({", ".join(_lit(n) for n in names)}){cut})""",
        f"""abwb_per_unit AS (
            SELECT unit_type, unit_id, sum(CASE WHEN dt < 0 THEN 1 ELSE 0 END) AS pre_events,
                   {aggs}
            FROM abwb_unit_events GROUP BY unit_type, unit_id)""",
        f"""abwb_values AS (
            SELECT u.unit_type, u.unit_id, u.variant, u.first_t,
                   coalesce(a.pre_events, 0) AS pre_events, {", ".join(outs)}
            FROM abwb_units u
            LEFT JOIN abwb_per_unit a ON a.unit_type = u.unit_type AND a.unit_id = u.unit_id)""",
    ]


def _capped_ctes(plans: Sequence[MetricPlan]) -> list[str]:
    quantiles = []
    cols = []
    for p in plans:
        for n, _ in p.parts():
            col = p.column(n)
            cap: str | None = None
            if n != "den" and p.cap_percentile is not None:
                quantiles.append(f"ABWB_QUANTILE({col}, {p.cap_percentile!r}) AS cap_{col}")
                cap = f"c.cap_{col}"
            elif n != "den" and p.cap_absolute is not None:
                cap = repr(float(p.cap_absolute))
            # CASE rather than least(): least() skips NULLs and would turn a unit without
            # a mean into the cap.
            cols.append(f"v.{col}" if cap is None else
                        f"CASE WHEN v.{col} > {cap} THEN {cap} ELSE v.{col} END")
            cols[-1] += f" AS {col}"
    ctes = []
    join = ""
    if quantiles:
        ctes.append(f"abwb_caps AS (SELECT {', '.join(quantiles)} FROM abwb_values)")
        join = " CROSS JOIN abwb_caps c"
    ctes.append(f"""abwb_capped AS (
        SELECT v.unit_type, v.unit_id, v.variant, v.first_t, v.pre_events, {", ".join(cols)}
        FROM abwb_values v{join})""")
    return ctes


def _sums_cte(plans: Sequence[MetricPlan]) -> str:
    sums = ["variant", "count(*) AS units"]
    for i, p in enumerate(plans):
        y = p.column("y")
        sums += [f"count({y}) AS n_{i}", f"sum({y}) AS total_{i}", f"sum({y} * {y}) AS sq_{i}"]
        other = p.column("den") if p.is_ratio else (
            f"coalesce({p.column('x')}, 0.0)" if p.covariate is not None else None)
        if other is not None:
            # A metric counts only units with a value (y IS NOT NULL).
            sums += [f"sum(CASE WHEN {y} IS NOT NULL THEN {other} END) AS e1_{i}",
                     f"sum(CASE WHEN {y} IS NOT NULL THEN {other} * {other} END) AS e2_{i}",
                     f"sum(CASE WHEN {y} IS NOT NULL THEN {other} * {y} END) AS e3_{i}"]
    return f"abwb_sums AS (SELECT {', '.join(sums)} FROM abwb_capped GROUP BY variant)"


def _stats_select(plans: Sequence[MetricPlan]) -> str:
    # One row per metric x variant: the per-variant sums (one row per variant, every
    # metric side by side) crossed with the metric list and picked by CASE, so the
    # sums are scanned once in every engine (Spark would recompute a CTE per UNION arm).
    def pick(column: str) -> str:
        arms = " ".join(f"WHEN {i} THEN {column.format(i=i)}" for i in range(len(plans)))
        return f"CASE m.i {arms} END"

    numbers = ["total_{i}", "sq_{i}"]
    cols = []
    for slot, ratio in ((1, False), (2, False), (3, False), (1, True), (2, True), (3, True)):
        arms = []
        for i, p in enumerate(plans):
            has = p.is_ratio if ratio else (p.covariate is not None and not p.is_ratio)
            arms.append(f"WHEN {i} THEN {f'e{slot}_{i}' if has else 'NULL'}")
        cols.append(f"CASE m.i {' '.join(arms)} END")
    metric_rows = ", ".join(f"({i}, {_lit(p.key)})" for i, p in enumerate(plans))
    typed = [f"CAST({pick(n)} AS DOUBLE)" for n in numbers] + [
        f"CAST({col} AS DOUBLE)" for col in cols]
    select = ", ".join(f"{expr} AS {name}" for expr, name in zip(typed, _NUMBERS, strict=True))
    return f"""SELECT CAST('stats' AS VARCHAR) AS section, CAST(m.metric AS VARCHAR) AS metric,
               CAST(s.variant AS VARCHAR) AS variant, CAST({pick("n_{i}")} AS BIGINT) AS n,
               {select}
        FROM abwb_sums s CROSS JOIN (VALUES {metric_rows}) AS m(i, metric)
        WHERE {pick("n_{i}")} > 0"""


def _count_select(section: str, variant: str, count: str, source: str) -> str:
    nulls = ", ".join(f"CAST(NULL AS DOUBLE) AS {n}" for n in _NUMBERS)
    return (f"SELECT CAST({_lit(section)} AS VARCHAR) AS section, CAST(NULL AS VARCHAR) AS metric,"
            f" CAST({variant} AS VARCHAR) AS variant, CAST({count} AS BIGINT) AS n, {nulls}"
            f" FROM {source}")


def _with(ctes: Sequence[str], body: str) -> exp.Expression:
    return cast(exp.Expression, sqlglot.parse_one(f"WITH {', '.join(ctes)} {body}"))


def _pipeline_ctes(request: PipelineRequest, tables: WarehouseTables) -> list[str]:
    return [_exposures_cte(request, tables), *_units_ctes(request),
            *_values_ctes(request, tables), *_capped_ctes(request.plans)]


def aggregates_query(request: PipelineRequest, tables: WarehouseTables) -> exp.Expression:
    """The pipeline as one query returning only aggregates (:data:`AGGREGATE_COLUMNS`).

    Args:
        request: Metric plans, experiment, phase, cut-off and crossover policy.
        tables: Table and column names of the exposures and events.

    Returns:
        The neutral sqlglot tree; :func:`render` prints it for a dialect.

    Examples:
        >>> from abwb.config import MetricDefinition
        >>> from abwb.metrics.plan import plan_metrics
        >>> req = PipelineRequest("e", 1, plan_metrics([MetricDefinition(
        ...     key="buyers", kind="binomial", event="buy")]), None, "exclude", False)
        >>> sql = render(aggregates_query(req, WarehouseTables()), "spark")
        >>> "UNIX_MICROS" in sql, sql.count("UNION ALL")
        (True, 4)
    """
    ctes = [*_pipeline_ctes(request, tables), _sums_cte(request.plans)]
    body = " UNION ALL ".join([
        _stats_select(request.plans),
        _count_select("exposures", "variant", "count(*)", "abwb_exp GROUP BY variant"),
        _count_select("units", "variant", "units", "abwb_sums"),
        _count_select("crossovers", "NULL", "count(*)", "abwb_all_units WHERE vmin <> vmax"),
        _count_select("pre_events", "NULL", "coalesce(sum(pre_events), 0)", "abwb_values"),
    ])
    return _with(ctes, body)


def units_query(request: PipelineRequest, tables: WarehouseTables) -> exp.Expression:
    """The capped unit-level values (``unit_type, unit_id, variant, first_t, m{i}_...``).

    Args:
        request: As :func:`aggregates_query`.
        tables: As :func:`aggregates_query`.

    Returns:
        The neutral sqlglot tree (one row per analysed unit: for embedded engines).
    """
    cols = ", ".join(p.column(n) for p in request.plans for n, _ in p.parts())
    return _with(_pipeline_ctes(request, tables),
                 f"SELECT unit_type, unit_id, variant, first_t, {cols} FROM abwb_capped")


def unit_days_query(request: PipelineRequest, tables: WarehouseTables) -> exp.Expression:
    """Analysed units per variant and UTC day of first exposure.

    Columns ``variant, day, units, first_t, last_t``; ``day`` counts days since
    1970-01-01, ``first_t``/``last_t`` are the day's first and last first exposure.

    Args:
        request: As :func:`aggregates_query` (the metric plans are not used).
        tables: As :func:`aggregates_query`.

    Returns:
        The neutral sqlglot tree: O(variants x days) rows, never one per unit.
    """
    day = "CAST(FLOOR(first_t / 86400000000.0) AS BIGINT)"
    return _with([_exposures_cte(request, tables), *_units_ctes(request)],
                 f"SELECT variant, {day} AS day, count(*) AS units, min(first_t) AS first_t,"
                 f" max(first_t) AS last_t FROM abwb_units GROUP BY variant, {day}")


def pairs_query(request: PipelineRequest, tables: WarehouseTables) -> exp.Expression:
    """Distinct ``unit_type, unit_id, variant`` of the phase's exposures (for the audit)."""
    return _with([_exposures_cte(request, tables)],
                 "SELECT DISTINCT unit_type, unit_id, variant FROM abwb_exp")


def _bucket_placeholders(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "abwb_bucket":
        return exp.Anonymous(this="ABWB_BUCKET", expressions=node.expressions)
    return node


def audit_query(
    request: PipelineRequest,
    tables: WarehouseTables,
    experiment: Experiment,
    *,
    layer_salt: str | None = None,
) -> exp.Expression:
    """The assignment audit run where the exposures are: only counts come back.

    The expected variant is :func:`abwb.assignment.sql.variant_sql` with
    ``abwb_bucket`` inlined for the dialect, so no function has to be created in the
    warehouse. Rows (:data:`AUDIT_COLUMNS`): ``audited``, ``outside``, ``excluded``
    (one each), ``mismatch`` per logged variant and up to 10 ``example`` unit ids.

    Args:
        request: The pass (experiment, phase, cut-off).
        tables: Table and column names.
        experiment: The experiment config (not sticky; same phase).
        layer_salt: The layer's salt when it is not ``layer:{key}``.

    Returns:
        The neutral sqlglot tree.
    """
    expected = sqlglot.parse_one(variant_sql(experiment, "unit_id", layer_salt=layer_salt),
                                 read="postgres").transform(_bucket_placeholders)
    overrides = ", ".join(_lit(u) for u in sorted(experiment.overrides))
    is_override = f"unit_id IN ({overrides})" if overrides else "1 = 0"
    ctes = [
        _exposures_cte(request, tables),
        "abwb_pairs AS (SELECT DISTINCT unit_type, unit_id, variant FROM abwb_exp)",
        f"abwb_audited AS (SELECT unit_id, variant, {expected.sql()} AS expected "
        f"FROM abwb_pairs WHERE NOT ({is_override}))",
        "abwb_bad AS (SELECT unit_id, variant FROM abwb_audited "
        "WHERE expected IS NULL OR expected <> variant)",
    ]

    def row(section: str, label: str, count: str, source: str) -> str:
        return (f"SELECT CAST({_lit(section)} AS VARCHAR) AS section, "
                f"CAST({label} AS VARCHAR) AS label, CAST({count} AS BIGINT) AS n FROM {source}")

    body = " UNION ALL ".join([
        row("audited", "NULL", "count(*)", "abwb_audited"),
        row("outside", "NULL", "count(*)", "abwb_audited WHERE expected IS NULL"),
        row("excluded", "NULL", "count(DISTINCT unit_id)", f"abwb_pairs WHERE {is_override}"),
        row("mismatch", "variant", "count(*)", "abwb_bad GROUP BY variant"),
        row("example", "unit_id", "0",
            "(SELECT unit_id FROM abwb_bad ORDER BY unit_id LIMIT 10) AS ex"),
    ])
    return _with(ctes, body)


# --------------------------------------------------------------------------- rendering


def _fill(template: str, args: Sequence[exp.Expression], dialect: str, q: float | None
          ) -> exp.Expression:
    parts = [a.sql(dialect=dialect) for a in args]
    if template is BUCKET_EXPRESSIONS.get(dialect):
        text = template.replace("{salt}", f"({parts[0]})").replace("{unit}", f"({parts[1]})")
    else:
        offset = "" if q is None else str(round(q * 1000))
        text = template.format(*parts, offset)
    return cast(exp.Expression, sqlglot.parse_one(text, read=dialect))


def render(tree: exp.Expression, dialect: str, *, pretty: bool = False) -> str:
    """Print a neutral query tree as SQL of ``dialect``.

    Args:
        tree: A tree from :func:`aggregates_query`, :func:`units_query`,
            :func:`pairs_query` or :func:`audit_query`.
        dialect: One of :data:`DIALECTS`.
        pretty: Indent the SQL (for ``abwb sql``).

    Returns:
        The SQL text.

    Raises:
        InvalidInput: an unknown dialect (path ``dialect``).
    """
    if dialect not in DIALECTS:
        raise InvalidInput(f"expected one of {list(DIALECTS)}, got {dialect!r}", path="dialect")

    def replace(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Anonymous):
            return node
        name = str(node.this).upper()
        args = list(node.expressions)
        if name == "ABWB_EPOCH_US":
            return _fill(EPOCH_US[dialect], args, dialect, None)
        if name == "ABWB_QUANTILE":
            q = float(args[1].sql())
            return _fill(QUANTILE[dialect], args, dialect, q)
        if name == "ABWB_BUCKET":
            return _fill(BUCKET_EXPRESSIONS[dialect], args, dialect, None)
        return node

    return tree.copy().transform(replace).sql(dialect=dialect, pretty=pretty)
