"""Warehouse sources: where the metric SQL is pushed down (PostgreSQL, Spark, DuckDB).

What belongs here: :class:`WarehouseSource` (a connection plus the table and column
names of the exposures and events there), the PostgreSQL and Spark runners of
:class:`~abwb.metrics.sql_engine.SqlRunner`, and opening a source from a URL
(``postgresql://…``, ``local[N]``, ``spark://…``, ``sc://host:port``) and table
names for the CLI's ``--warehouse`` / ``--warehouse-tables`` (``ABWB_WAREHOUSE_URL`` /
``ABWB_WAREHOUSE_TABLES``), checking its tables before any work. Drivers (psycopg,
pyspark) are imported only when such a source is opened; their errors become
:class:`~abwb.errors.StorageError` naming the warehouse.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl
import sqlglot
from sqlglot import exp

from abwb.errors import InvalidInput, StorageError
from abwb.metrics.duckdb_engine import DuckDBRunner
from abwb.metrics.sql_engine import SqlEngine, SqlRunner
from abwb.metrics.sql_query import WarehouseTables
from abwb.settings import Settings

__all__ = [
    "MATERIALISED_CTES",
    "PostgresRunner",
    "SparkRunner",
    "WarehouseEngineName",
    "WarehouseSource",
    "check_tables",
    "open_engine",
    "spark_session",
    "warehouse_source",
]

#: Pipeline steps read more than once, which ``SparkRunner(materialise=...)`` can cache.
#: Off by default: measured slower on local[2] (20k units: 13.9-25.2 s cached vs
#: 6.7-7.0 s inline, warm), since Spark's adaptive execution already reuses exchanges.
MATERIALISED_CTES = frozenset({"abwb_units", "abwb_values", "abwb_sums"})

#: Engines a :class:`WarehouseSource` runs on.
WarehouseEngineName = Literal["duckdb", "postgres", "spark"]


@dataclass(frozen=True, slots=True)
class WarehouseSource:
    """Exposures and events that stay where they are; the pipeline goes to them.

    Args:
        connection: A URL (``postgresql://…``, ``local[2]``, ``spark://…``,
            ``sc://host:port``), a psycopg connection, an abwb ``PostgresEventStore``
            or ``PostgresDatabase`` (its own tables), a ``SparkSession`` or a DuckDB
            connection.
        tables: Table names (qualified as needed) and a column mapping for existing
            tables (default: the contract tables ``exposures`` and ``events``).

    Examples:
        >>> WarehouseSource("local[2]").engine
        'spark'
        >>> WarehouseSource("postgresql://u@h/db", WarehouseTables("x.exp", "x.ev")).engine
        'postgres'
    """

    connection: Any
    tables: WarehouseTables = field(default_factory=WarehouseTables)

    @classmethod
    def from_url(cls, url: str, tables: str | None = None, *, schema: str = "public",
                 tables_path: str = "warehouse_tables") -> WarehouseSource:
        """The source a CLI option or setting names (``--warehouse`` and its tables).

        Args:
            url: ``postgresql://…``, ``local[N]``, ``spark://…`` or ``sc://host:port``.
            tables: ``exposures=TABLE,events=TABLE`` (:meth:`WarehouseTables.parse`);
                ``None``: on PostgreSQL the event store's own tables in ``schema``, on
                Spark the catalogue's ``exposures`` and ``events``.
            schema: The event store's PostgreSQL schema (``ABWB_DATABASE_SCHEMA``).
            tables_path: The option or setting ``tables`` came from, for errors.

        Returns:
            The source (the URL checked, nothing opened).

        Raises:
            InvalidInput: an unknown URL kind (path ``warehouse``) or bad tables
                (``tables_path``).

        Examples:
            >>> WarehouseSource.from_url("postgresql://h/db", schema="abwb").tables.events
            '"abwb".events'
            >>> WarehouseSource.from_url("local[2]").tables.exposures
            'exposures'
        """
        source = cls(url)
        engine = source.engine
        if tables is not None:
            return cls(url, WarehouseTables.parse(tables, path=tables_path))
        if engine == "postgres":
            quoted = '"' + schema.replace('"', '""') + '"'
            return cls(url, WarehouseTables(f"{quoted}.exposures", f"{quoted}.events"))
        return source

    @property
    def engine(self) -> WarehouseEngineName:
        """The engine the connection belongs to.

        Raises:
            InvalidInput: a connection of an unknown kind (path ``warehouse``).
        """
        c = self.connection
        if isinstance(c, str):
            if c.startswith(("postgresql://", "postgres://")):
                return "postgres"
            if c.startswith(("local", "spark://", "sc://")):
                return "spark"
            raise InvalidInput(
                f"expected a postgresql://, local[N], spark:// or sc:// URL, got {c!r}",
                path="warehouse")
        module = type(c).__module__
        if module.startswith("pyspark"):
            return "spark"
        if module.startswith(("psycopg", "abwb.store")):
            return "postgres"
        if module.startswith("duckdb") or module == "_duckdb":
            return "duckdb"
        raise InvalidInput(f"unsupported warehouse connection {type(c).__name__}",
                           path="warehouse")


class PostgresRunner:
    """Runs SQL on PostgreSQL through psycopg.

    Args:
        connection: An open psycopg connection.
        where: Redacted description for error messages.
        owns: Close the connection with the runner.
    """

    dialect = "postgres"

    def __init__(self, connection: Any, *, where: str, owns: bool) -> None:
        self.conn = connection
        self.where = where
        self._owns = owns

    @staticmethod
    def _plan_for_bulk(cur: Any) -> None:
        # Every join of the pipeline is a bulk join over whole tables. With stale or
        # missing statistics (a freshly loaded table, a CTE) the planner may estimate
        # one row and pick a nested loop, which is quadratic: forbid it for this query.
        # Forbidding it inflates costs past the JIT threshold, and compiling this many
        # expressions takes seconds for no gain on an aggregate query: no JIT either.
        cur.execute("SET LOCAL enable_nestloop = off")
        cur.execute("SET LOCAL jit = off")
        # The event store's connections carry a short statement_timeout so writes on the
        # serving path fail fast; an analysis query over whole tables legitimately runs
        # for minutes and is never on that path.
        cur.execute("SET LOCAL statement_timeout = 0")

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        """All rows of a query (in its own transaction)."""
        import psycopg

        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                self._plan_for_bulk(cur)
                cur.execute(sql.encode())
                return list(cur.fetchall())
        except psycopg.Error as exc:
            raise StorageError(f"query on {self.where} failed: {exc}") from exc

    def fetch_frame(self, sql: str) -> pl.DataFrame:
        """A query's result as a polars frame."""
        import psycopg

        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                self._plan_for_bulk(cur)
                cur.execute(sql.encode())
                names = [d.name for d in cur.description or []]
                rows = cur.fetchall()
        except psycopg.Error as exc:
            raise StorageError(f"query on {self.where} failed: {exc}") from exc
        return pl.DataFrame(rows, schema=names, orient="row")

    def close(self) -> None:
        """Close the connection when owned."""
        if self._owns:
            self.conn.close()


class SparkRunner:
    """Runs SQL on a Spark session (local, standalone or Spark Connect).

    Args:
        session: A ``pyspark.sql.SparkSession``.
        owns: Stop the session with the runner.
        materialise: CTEs computed once as cached temp views (see :meth:`_run`;
            e.g. :data:`MATERIALISED_CTES`; default none).
    """

    dialect = "spark"

    def __init__(self, session: Any, *, owns: bool,
                 materialise: Collection[str] = ()) -> None:
        self.session = session
        self._owns = owns
        self.materialise = materialise

    def _run(self, sql: str, collect: Callable[[Any], Any]) -> Any:
        """Run ``sql`` with the CTEs named in ``materialise`` computed once (cached views).

        Spark inlines a CTE at each reference, so a step read twice (the units, the
        unit values, the sums read by every UNION arm) would be executed again per
        reference; ``CACHE TABLE`` computes it once. The other CTEs stay inline. The
        views are uncached and dropped afterwards.
        """
        tree = sqlglot.parse_one(sql, read="spark")
        key = "with_" if "with_" in tree.args else "with"  # sqlglot renamed the arg
        with_ = tree.args.get(key) if self.materialise else None
        views: list[str] = []
        try:
            if with_ is not None:
                tag = uuid.uuid4().hex[:8]
                names: dict[str, str] = {}
                inline: list[str] = []  # CTEs kept as such, already renamed
                for cte in with_.expressions:
                    body = _renamed(cte.this, names).sql(dialect="spark")
                    if cte.alias not in self.materialise:
                        inline.append(f"{cte.alias} AS ({body})")
                        continue
                    view = f"abwb_{tag}_{cte.alias}"
                    prefix = f"WITH {', '.join(inline)} " if inline else ""
                    self.session.sql(f"CACHE TABLE {view} AS {prefix}{body}")
                    views.append(view)
                    names[cte.alias] = view
                tree = _renamed(tree, names)
                tree.set(key, None)
                prefix = f"WITH {', '.join(inline)} " if inline else ""
                sql = prefix + tree.sql(dialect="spark")
            return collect(self.session.sql(sql))
        except Exception as exc:  # pyspark raises many unrelated classes; all are query errors
            raise StorageError(f"Spark query failed: {exc}") from exc
        finally:
            for view in reversed(views):  # dependants first: a view resolves its inputs
                self.session.sql(f"UNCACHE TABLE IF EXISTS {view}")
                self.session.sql(f"DROP VIEW IF EXISTS {view}")

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        """All rows of a query."""
        rows: list[tuple[Any, ...]] = self._run(
            sql, lambda df: [tuple(r) for r in df.collect()])
        return rows

    def fetch_frame(self, sql: str) -> pl.DataFrame:
        """A query's result as a polars frame (through Arrow)."""
        table = self._run(sql, lambda df: df.toArrow())
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return frame

    def close(self) -> None:
        """Stop the session when owned."""
        if self._owns:
            self.session.stop()


def _renamed(node: Any, names: Mapping[str, str]) -> Any:
    """``node`` with unqualified table references to CTE ``names`` replaced by views."""
    def swap(n: Any) -> Any:
        if isinstance(n, exp.Table) and not n.args.get("db") and n.name in names:
            alias = n.alias or n.name
            return exp.Table(this=exp.to_identifier(names[n.name]),
                             alias=exp.TableAlias(this=exp.to_identifier(alias)))
        return n
    return node.copy().transform(swap)


def spark_session(url: str) -> Any:
    """A Spark session for ``local[N]``, ``spark://host:port`` or ``sc://host:port``.

    Args:
        url: Master URL, or a Spark Connect URL (``sc://``).

    Returns:
        The session (an existing one with the same master is reused).

    Raises:
        InvalidInput: pyspark is not installed (install the ``spark`` extra).
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise InvalidInput("pyspark is not installed: pip install 'abwb[spark]'",
                           path="warehouse") from exc
    builder: Any = SparkSession.builder
    if url.startswith("sc://"):
        return builder.remote(url).getOrCreate()
    return (builder.master(url).appName("abwb")
            # Python workers (if any) must be this interpreter, not whatever is on PATH.
            .config("spark.pyspark.python", sys.executable)
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.enabled", "false")
            # Errors reach the caller as exceptions (StorageError naming the table); the
            # JVM's own WARN lines would print Java stack traces (e.g. a missing path).
            .config("spark.log.level", "ERROR")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate())


def _postgres_runner(c: Any) -> PostgresRunner:
    try:
        import psycopg
    except ImportError as exc:
        raise InvalidInput("psycopg is not installed: pip install 'abwb[postgres]'",
                           path="warehouse") from exc
    if isinstance(c, str):
        from abwb.store.postgres import redact_url

        try:
            conn = psycopg.connect(c)
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to {redact_url(c)}: {exc}") from exc
        return PostgresRunner(conn, where=redact_url(c), owns=True)
    from abwb.store.postgres import PostgresDatabase
    from abwb.store.postgres_events import PostgresEventStore

    database = c.db if isinstance(c, PostgresEventStore) else c
    if isinstance(database, PostgresDatabase):
        # The event store's own schema: its connections set search_path to it.
        return PostgresRunner(database.connect(), where=database.where, owns=True)
    return PostgresRunner(c, where="PostgreSQL", owns=False)


def warehouse_source(settings: Settings, *, url: str | None = None,
                     tables: str | None = None) -> WarehouseSource | None:
    """The warehouse an entry point runs in: its options first, then the settings.

    Args:
        settings: Process settings (``ABWB_WAREHOUSE_URL``, ``ABWB_WAREHOUSE_TABLES``,
            ``ABWB_DATABASE_SCHEMA``).
        url: ``--warehouse`` (overrides ``ABWB_WAREHOUSE_URL``).
        tables: ``--warehouse-tables`` (overrides ``ABWB_WAREHOUSE_TABLES``).

    Returns:
        The source (see :meth:`WarehouseSource.from_url`), or ``None``: no warehouse,
        the event store is read.

    Raises:
        InvalidInput: a bad URL or tables (naming the option or variable), or tables
            without a warehouse.
    """
    url = url or settings.analysis.warehouse_url
    path = "--warehouse-tables" if tables else "ABWB_WAREHOUSE_TABLES"
    tables = tables or settings.analysis.warehouse_tables
    if not url:
        if tables:
            raise InvalidInput("tables need a warehouse: give --warehouse URL or set "
                               "ABWB_WAREHOUSE_URL", path=path)
        return None
    return WarehouseSource.from_url(url, tables, schema=settings.database.schema,
                                    tables_path=path)


def check_tables(source: WarehouseSource) -> None:
    """Check that the source's exposures and events tables can be read, before any work.

    A missing table (or Parquet path) then fails with a message naming it, instead of a
    query error deep inside the pipeline (on Spark, a JVM stack trace).

    Args:
        source: The warehouse source.

    Raises:
        InvalidInput: an unknown connection kind or a missing extra.
        StorageError: the warehouse cannot be reached, or a table cannot be read (the
            message names ``tables.exposures`` or ``tables.events`` and the table).
    """
    engine = open_engine(source)
    try:
        for which in ("exposures", "events"):
            sql = f"SELECT * FROM {source.tables.table(which)} WHERE 1 = 0"
            try:
                engine.runner.fetch(sqlglot.transpile(sql, write=engine.runner.dialect)[0])
            except StorageError as exc:
                first = str(exc.__cause__ or exc).strip().splitlines()[0]
                raise StorageError(
                    f"tables.{which}: cannot read table {getattr(source.tables, which)!r} in "
                    f"the {source.engine} warehouse: {first}") from None
    finally:
        engine.close()


def open_engine(source: WarehouseSource) -> SqlEngine:
    """An engine running the pipeline SQL where ``source`` lives.

    Args:
        source: The warehouse source.

    Returns:
        A :class:`~abwb.metrics.sql_engine.SqlEngine`; closing it closes only what it
        opened (a URL's connection or session), never a connection passed in.

    Raises:
        InvalidInput: an unknown connection kind or a missing extra.
        StorageError: the warehouse cannot be reached.
    """
    engine = source.engine
    c = source.connection
    runner: SqlRunner
    if engine == "postgres":
        runner = _postgres_runner(c)
    elif engine == "spark":
        runner = SparkRunner(spark_session(c) if isinstance(c, str) else c, owns=False)
    else:
        runner = DuckDBRunner(c, owns=False)
    return SqlEngine(runner, source.tables)
