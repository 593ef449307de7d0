"""``abwb readout KEY``: run the readout notebook unattended and write the report.

Writes ``<reports_dir>/<KEY>/<as_of>/readout.html`` (inputs hidden), the executed
``readout.ipynb`` and ``results.json``. ``--all-running`` reads out every running
experiment (for cron) and prints one summary line each. Exit codes: 0 success,
1 a readout failed (message on stderr names the parameter, experiment or cell).
"""

from __future__ import annotations

import argparse
import ast
import sys
from datetime import UTC, datetime
from typing import Any

from abwb.errors import AbwbError, InvalidInput
from abwb.readout.model import ENGINES
from abwb.settings import Settings

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    """Add the ``readout`` subcommand."""
    p = sub.add_parser("readout", help="run the readout notebook and write an HTML report")
    p.add_argument("key", nargs="?", metavar="KEY", help="experiment key")
    p.add_argument("--all-running", action="store_true",
                   help="read out every running experiment (one summary line each)")
    p.add_argument("--as-of", metavar="DATE", default=None,
                   help="last day of data, YYYY-MM-DD (UTC; default yesterday, the last "
                        "complete day; today reads a partial day)")
    p.add_argument("--engine", choices=ENGINES, default="frequentist")
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


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {"as_of": args.as_of, "engine": args.engine,
                               "alpha": args.alpha, "metrics": args.metrics}
    extra: dict[str, Any] = {}
    for name, value in args.parameter:
        if name in ("experiment_key", "database_url"):
            raise InvalidInput(f"set by the command itself; got -p {name} {value}", path=name)
        if name in options:
            options[name] = _literal(value) if name != "as_of" else value
        else:
            extra[name] = _literal(value)
    return {**options, "extra_parameters": extra}


def run(args: argparse.Namespace) -> int:
    """Run one readout (or all running ones); returns the exit code."""
    from abwb.readout.runner import run_readout

    if bool(args.key) == bool(args.all_running):
        print("abwb readout: error: give an experiment KEY or --all-running", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    today = datetime.now(UTC).date()
    options = _options(args)
    if args.key:
        result = run_readout(args.key, settings=settings, today=today, **options)
        print(f"{result.readout.headline}\n  report: {result.html}\n  results: {result.results}")
        return 0
    from abwb.store import open_stores

    config_store, event_store = open_stores(settings)
    try:
        keys = [e.key for e in config_store.list("experiment", status="running", limit=10_000)]
    finally:
        config_store.close()
        event_store.close()
    failures = 0
    for key in keys:
        try:
            result = run_readout(key, settings=settings, today=today, **options)
            print(f"{key}: ok — {result.readout.decision.action} — {result.html}")
        except AbwbError as exc:
            failures += 1
            print(f"{key}: FAILED — {exc}")
    print(f"{len(keys) - failures} of {len(keys)} running experiments read out")
    return 1 if failures else 0
