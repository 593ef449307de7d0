"""``abwb readout KEY``: run the readout notebook unattended and write the report.

Writes ``<reports_dir>/<KEY>/<as_of>/readout.html`` (inputs hidden), the executed
``readout.ipynb`` and ``results.json``. ``--all-running`` reads out every running
experiment (for cron) and prints one summary line each. Exit codes: 0 success,
1 a readout failed (message on stderr names the parameter, experiment or cell).

The notebook gets an absolute database URL, so the executed ``readout.ipynb`` re-runs
against the same workspace from any directory. ``--as-of`` after today, or before the
experiment's first exposure, is refused; so is a ``-p NAME`` the notebook does not
declare.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from abwb.config.validation import did_you_mean
from abwb.errors import AbwbError, InvalidInput, NotFound
from abwb.readout.model import ENGINES
from abwb.settings import Settings

__all__ = ["PAGE", "absolute_settings", "register", "run"]

#: Running experiments are listed this many at a time (the store's page limit).
PAGE = 1000

EXAMPLES = """\
examples:
  abwb readout checkout-redesign                  # today's report in reports/
  abwb readout checkout-redesign --as-of 2026-06-14 --engine bayesian
  abwb readout --all-running                      # for cron: every running experiment
  abwb events export --format parquet /d             # then, reading it on Spark:
  abwb readout checkout-redesign --warehouse 'local[2]' --warehouse-tables \
      'exposures=parquet.`/d/exposures.parquet`,events=parquet.`/d/events.parquet`'
"""


def register(sub: Any) -> None:
    """Add the ``readout`` subcommand."""
    p = sub.add_parser(
        "readout",
        help="run the readout notebook and write an HTML report",
        description="Run notebooks/readout.ipynb with papermill for one experiment (or every "
        "running one) and write reports/KEY/DATE/readout.html, readout.ipynb and results.json.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("key", nargs="?", metavar="KEY", help="experiment key")
    p.add_argument("--all-running", action="store_true",
                   help="read out every running experiment (one summary line each)")
    p.add_argument("--as-of", metavar="DATE", default=None,
                   help="last day of data, YYYY-MM-DD (UTC; default yesterday, the last "
                        "complete day; today reads a partial day)")
    p.add_argument("--engine", choices=ENGINES, default="frequentist")
    p.add_argument("--warehouse", metavar="URL", default=None,
                   help="run the metric SQL where the data is: postgresql://..., local[N], "
                        "sc://host:port (default ABWB_WAREHOUSE_URL; unset: the event store)")
    p.add_argument("--warehouse-tables", metavar="exposures=TABLE,events=TABLE", default=None,
                   help="the tables there, e.g. exposures=parquet.`/data/exposures`,events=... "
                        "on Spark or analytics.exposures on PostgreSQL (default "
                        "ABWB_WAREHOUSE_TABLES; unset: the event store's own tables)")
    p.add_argument("--alpha", type=str, default=None, help="significance level (default 0.05)")
    p.add_argument("--metrics", default=None,
                   help="comma-separated metric keys (the experiment's guardrails are always "
                        "analysed too)")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                   metavar=("NAME", "VALUE"), help="extra notebook parameter (repeatable)")
    p.set_defaults(func=run)


def _literal(value: str) -> Any:
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def _options(args: argparse.Namespace, declared: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {"as_of": args.as_of, "engine": args.engine,
                               "alpha": args.alpha, "metrics": args.metrics,
                               "warehouse": args.warehouse,
                               "warehouse_tables": args.warehouse_tables}
    extra: dict[str, Any] = {}
    for name, value in args.parameter:
        if name in ("experiment_key", "database_url", "database_schema", "warehouse_url"):
            raise InvalidInput(f"set by the command itself; got -p {name} {value}", path=name)
        if name in options:
            options[name] = _literal(value) if name != "as_of" else value
        elif name not in declared:
            hint = did_you_mean(name, declared) or f"; the notebook declares {declared}"
            raise InvalidInput(f"unknown notebook parameter{hint}", path=f"-p {name}")
        else:
            extra[name] = _literal(value)
    return {**options, "extra_parameters": extra}


def _declared_parameters() -> list[str]:
    """The names in the readout notebook's ``parameters`` cell."""
    from papermill import inspect_notebook

    from abwb.readout.runner import notebook_path

    return list(inspect_notebook(str(notebook_path())))


def absolute_settings(settings: Settings) -> Settings:
    """``settings`` with the embedded SQLite file as an absolute path (notebooks move).

    Examples:
        >>> from abwb.settings import DatabaseSettings
        >>> s = absolute_settings(Settings(database=DatabaseSettings(home=Path("h"))))
        >>> s.database.effective_url == f"sqlite:///{Path('h').resolve() / 'abwb.db'}"
        True
    """
    db = settings.database
    url = db.url
    if url is not None and url.startswith("sqlite:///"):
        url = f"sqlite:///{Path(url.removeprefix('sqlite:///')).resolve().as_posix()}"
    database = dataclasses.replace(db, url=url, home=db.home.resolve())
    return dataclasses.replace(settings, database=database)


def _check_as_of(key: str, as_of: str | None, settings: Settings, today: date) -> None:
    """Refuse a day after today, or before the experiment's first exposure."""
    if as_of is None:
        return
    try:
        day = date.fromisoformat(as_of)
    except ValueError:
        return  # the runner names the format problem
    if day > today:
        raise InvalidInput(
            f"{day} is in the future (today is {today} UTC); the last day of data cannot "
            "be later than today",
            path="--as-of",
        )
    from abwb.store import open_stores

    stores = open_stores(settings)

    config, events = stores.config, stores.events
    try:
        try:
            config.get("experiment", key)
        except NotFound:
            return  # the readout itself names the experiment and the known ones
        exposed = events.read_exposures(experiment=key)
    finally:
        stores.close()
    if exposed.height:
        first = exposed["exposed_at"].min()
        if isinstance(first, datetime) and day < first.date():
            raise InvalidInput(
                f"{day} is before experiment {key!r} started (first exposure "
                f"{first.date()}); choose a day on or after it",
                path="--as-of",
            )


def _running_keys(settings: Settings) -> list[str]:
    """Every running experiment's key, page by page."""
    from abwb.store import open_stores

    stores = open_stores(settings)
    keys: list[str] = []
    try:
        while True:
            page = stores.config.list("experiment", status="running", limit=PAGE, offset=len(keys))
            keys += [e.key for e in page]
            if len(page) < PAGE:
                return keys
    finally:
        stores.close()


def run(args: argparse.Namespace) -> int:
    """Run one readout (or all running ones); returns the exit code."""
    from abwb.readout.runner import run_readout

    if bool(args.key) == bool(args.all_running):
        print("abwb readout: error: give an experiment KEY or --all-running", file=sys.stderr)
        return 2
    settings = absolute_settings(Settings.from_env())
    today = datetime.now(UTC).date()
    options = _options(args, _declared_parameters())
    if args.key:
        _check_as_of(args.key, args.as_of, settings, today)
        result = run_readout(args.key, settings=settings, today=today, **options)
        print(f"{result.readout.headline}\n  report: {result.html}\n  results: {result.results}")
        return 0
    keys = _running_keys(settings)
    failures = 0
    for key in keys:
        try:
            _check_as_of(key, args.as_of, settings, today)
            result = run_readout(key, settings=settings, today=today, **options)
            print(f"{key}: ok — {result.readout.decision.action} — {result.html}")
        except AbwbError as exc:
            failures += 1
            print(f"{key}: FAILED — {exc}")
    noun = "experiment" if len(keys) == 1 else "experiments"
    print(f"{len(keys) - failures} of {len(keys)} running {noun} read out")
    return 1 if failures else 0
