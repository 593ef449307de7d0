"""``abwb sql KEY --dialect D``: print the exact metric query abwb would run in a warehouse.

A data team runs the printed SQL on BigQuery, Snowflake, Trino, Spark, PostgreSQL or
DuckDB themselves and hands the rows back to
:func:`abwb.metrics.from_aggregates` for the same ``MetricResults``. The experiment
and its metrics come from a config file (``--config``) or the configured store.
``--audit`` prints the assignment-audit query instead.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

from abwb.config.bundle import ConfigBundle
from abwb.errors import InvalidInput, NotFound

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    """Add the ``sql`` subcommand."""
    p = sub.add_parser(
        "sql",
        help="print the metric SQL for a warehouse dialect",
        description="Print the exact query abwb would run to compute an experiment's "
        "per-variant sufficient statistics (or, with --audit, its assignment audit) in "
        "a warehouse dialect. Run it where the data lives and feed the per-variant rows "
        "back with abwb.metrics.from_aggregates.",
        epilog="examples:\n  abwb sql checkout-redesign --dialect bigquery\n"
        "  abwb sql checkout-redesign --dialect trino --events-table analytics.events\n"
        "  abwb sql checkout-redesign --dialect spark --audit",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("key", metavar="KEY", help="experiment key")
    p.add_argument("--dialect", default="duckdb",
                   choices=["bigquery", "snowflake", "trino", "spark", "postgres", "duckdb"])
    p.add_argument("--config", metavar="FILE", default=None,
                   help="config file with the experiment and metrics (default: the store)")
    p.add_argument("--metrics", default=None,
                   help="comma-separated metric keys (default: the experiment's)")
    p.add_argument("--as-of", metavar="DATE", default=None,
                   help="last day of data, YYYY-MM-DD (UTC; default: all data)")
    p.add_argument("--crossovers", choices=["exclude", "first"], default="exclude")
    p.add_argument("--exposures-table", default="exposures")
    p.add_argument("--events-table", default="events")
    p.add_argument("--column", action="append", default=[], metavar="CONTRACT=ACTUAL",
                   help="column mapping for existing tables (repeatable)")
    p.add_argument("--audit", action="store_true", help="print the assignment-audit query")
    p.set_defaults(func=run)


def _bundle(path: str | None) -> ConfigBundle:
    if path is not None:
        from abwb.config.io import load_bundle

        return load_bundle(path)
    from abwb.settings import Settings
    from abwb.store import open_stores

    stores = open_stores(Settings.from_env())
    try:
        return stores.config.load_bundle()
    finally:
        stores.close()


def _as_of_us(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as exc:
        raise InvalidInput(f"expected YYYY-MM-DD, got {text!r}", path="as_of") from exc
    end = day + timedelta(days=1)
    return int(end.timestamp()) * 1_000_000


def _columns(items: list[str]) -> dict[str, str]:
    mapping = {}
    for item in items:
        contract, sep, actual = item.partition("=")
        if not sep or not contract or not actual:
            raise InvalidInput(f"expected CONTRACT=ACTUAL, got {item!r}", path="column")
        mapping[contract] = actual
    return mapping


def run(args: argparse.Namespace) -> int:
    """Print the query; returns the exit code."""
    from abwb.metrics.engine import PipelineRequest
    from abwb.metrics.plan import plan_metrics
    from abwb.metrics.sql_query import WarehouseTables, aggregates_query, audit_query, render

    bundle = _bundle(args.config)
    experiment = next((e for e in bundle.experiments if e.key == args.key), None)
    if experiment is None:
        raise NotFound(f"experiment {args.key!r} not found")
    keys = args.metrics.split(",") if args.metrics else experiment.metrics.all_keys()
    plans = plan_metrics(keys, catalog=bundle.metrics)
    tables = WarehouseTables(args.exposures_table, args.events_table, _columns(args.column))
    request = PipelineRequest(experiment.key, experiment.phase, plans, _as_of_us(args.as_of),
                              args.crossovers, keep_units=False)
    tree = (audit_query(request, tables, experiment) if args.audit
            else aggregates_query(request, tables))
    print(render(tree, args.dialect, pretty=True) + ";")
    return 0
