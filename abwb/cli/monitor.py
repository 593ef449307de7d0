"""``abwb monitor``: one monitoring pass, a loop (``--every 60s``), or the alert list (``--list``).

Stores come from the settings (``ABWB_DATABASE_URL``); with ``--warehouse URL``
(``ABWB_WAREHOUSE_URL``, tables ``--warehouse-tables`` / ``ABWB_WAREHOUSE_TABLES``) the
statistics are computed in that warehouse by the metric pipeline's SQL and only
aggregates come back; the tables are checked before the first pass. Alerts go to the log, to
Redis pub/sub (``abwb:alerts``) when ``ABWB_REDIS_URL`` is set, and to every
``--webhook`` URL (also ``ABWB_ALERT_WEBHOOK_URL``). The loop stops cleanly on
SIGINT/SIGTERM after the pass in progress.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import threading
from datetime import UTC, datetime
from typing import Any

import msgspec

from abwb.errors import InvalidInput

__all__ = ["parse_duration_s", "register", "run"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration_s(text: str, *, option: str) -> float:
    """Seconds in ``"90"``, ``"60s"``, ``"5m"``, ``"1h"`` or ``"500ms"``.

    Args:
        text: The value given.
        option: Option name for the error message.

    Returns:
        Seconds.

    Raises:
        InvalidInput: not a duration (the option is named).

    Examples:
        >>> parse_duration_s("5m", option="--every")
        300.0
        >>> parse_duration_s("soon", option="--every")
        Traceback (most recent call last):
        ...
        abwb.errors.InvalidInput: --every: expected a duration like 60s, 5m or 1h, got 'soon'
    """
    match = _DURATION.match(text)
    if match is None:
        raise InvalidInput(f"expected a duration like 60s, 5m or 1h, got {text!r}", path=option)
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def register(sub: Any) -> None:
    """Add the ``monitor`` subcommand."""
    p = sub.add_parser(
        "monitor",
        help="check running experiments and rollouts (SRM, guardrails, exposure health)",
        description="Run one monitoring pass, or every --every interval until SIGINT/SIGTERM.",
        epilog="examples:\n  abwb monitor                      # one pass\n"
        "  abwb monitor --every 60s          # loop until Ctrl-C\n"
        "  abwb monitor --warehouse postgresql://analytics/db   # statistics computed there\n"
        "  abwb monitor --list --status open --json | head",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--every", metavar="DURATION", help="loop: run a pass every DURATION (60s, 5m)")
    p.add_argument("--webhook", action="append", default=[], metavar="URL",
                   help="POST alerts to URL (repeatable; also ABWB_ALERT_WEBHOOK_URL)")
    p.add_argument("--no-redis", action="store_true", help="do not publish alerts on Redis")
    p.add_argument("--pause-on-srm", action="store_true",
                   help="pause experiments with severe SRM (p < --srm-pause-p)")
    p.add_argument("--srm-pause-p", type=float, default=1e-6, metavar="P")
    p.add_argument("--alpha", type=float, default=0.05,
                   help="guardrail error budget per experiment (default 0.05)")
    p.add_argument("--planned-n", type=int, default=100_000, metavar="N",
                   help="planned units per experiment (tunes the confidence sequences)")
    p.add_argument("--lateness", default="60s", metavar="DURATION",
                   help="leave rows younger than this for the next pass (default 60s)")
    p.add_argument("--no-rollback", action="store_true", help="never roll back rollouts")
    p.add_argument("--warehouse", metavar="URL", default=None,
                   help="compute the statistics where the data is: postgresql://..., "
                        "local[N], sc://host:port (default ABWB_WAREHOUSE_URL; unset: read "
                        "new rows from the event store)")
    p.add_argument("--warehouse-tables", metavar="exposures=TABLE,events=TABLE", default=None,
                   help="the tables there (default ABWB_WAREHOUSE_TABLES; unset: the event "
                        "store's own tables on PostgreSQL, exposures/events on Spark)")
    p.add_argument("--list", action="store_true", help="list stored alerts instead of monitoring")
    p.add_argument("--status", choices=["open", "resolved"], help="with --list: filter by status")
    p.add_argument("--experiment", metavar="KEY", help="with --list: experiment or rollout key")
    p.add_argument("--json", action="store_true", help="with --list: print JSON lines")
    p.set_defaults(func=run)


def _sinks(args: argparse.Namespace, settings: Any) -> list[Any]:
    from abwb.monitoring.sinks import LogSink, RedisPubSubSink, WebhookSink

    sinks: list[Any] = [LogSink()]
    urls = [*args.webhook]
    if os.environ.get("ABWB_ALERT_WEBHOOK_URL"):
        urls.append(os.environ["ABWB_ALERT_WEBHOOK_URL"])
    sinks += [WebhookSink(url) for url in urls]
    if settings.cache.redis_url and not args.no_redis:
        sinks.append(RedisPubSubSink(settings.cache.redis_url))
    return sinks


def _list(args: argparse.Namespace, alerts: Any) -> int:
    from abwb.monitoring.alerts import list_alerts

    rows = list_alerts(alerts, status=args.status, experiment=args.experiment, limit=1000)
    for a in rows:
        if args.json:
            print(msgspec.json.encode(a).decode())
        else:
            action = f" [{a.action}]" if a.action else ""
            print(f"{a.opened_at:%Y-%m-%d %H:%M} {a.status:8} {a.severity:8} {a.kind:15} "
                  f"{a.subject}{action}: {a.message}")
    if not rows and not args.json:
        print("no alerts")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the subcommand; exit 1 when a pass met an error (store outage)."""
    from abwb.metrics import check_tables, warehouse_source
    from abwb.monitoring import Monitor, MonitorConfig
    from abwb.settings import Settings
    from abwb.store import open_alert_store, open_stores

    every_s = parse_duration_s(args.every, option="--every") if args.every else None
    if every_s is not None and every_s <= 0:
        raise InvalidInput(f"expected a duration > 0, got {args.every!r}", path="--every")
    config = MonitorConfig(
        alpha_guardrail=args.alpha, planned_n=args.planned_n, pause_on_srm=args.pause_on_srm,
        srm_pause_p=args.srm_pause_p, auto_rollback=not args.no_rollback,
        lateness_s=parse_duration_s(args.lateness, option="--lateness"),
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = Settings.from_env()
    if args.list:
        listed = open_alert_store(settings)
        try:
            return _list(args, listed)
        finally:
            listed.close()
    warehouse = warehouse_source(settings, url=args.warehouse, tables=args.warehouse_tables)
    if warehouse is not None:
        check_tables(warehouse)  # a missing table is named before any pass
    stores = open_stores(settings)  # one database, one pool for all three
    config_store, event_store, alerts = stores.config, stores.events, stores.alerts
    sinks = _sinks(args, settings)
    monitor = Monitor(config_store, event_store, alerts, sinks=sinks, config=config,
                      warehouse=warehouse)
    try:
        if every_s is None:
            report = monitor.run_pass(datetime.now(UTC))
            print(report.summary())
            for error in report.errors:
                print(f"error: {error}", file=sys.stderr)
            return 0 if report.ok else 1
        stop = threading.Event()

        def _stop(signum: int, frame: object) -> None:
            logging.getLogger("abwb.monitoring").info(
                "received signal %d: stopping after this pass", signum
            )
            stop.set()

        previous = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            passes = monitor.run_forever(every_s, stop=stop)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        print(f"monitor stopped after {passes} pass(es)")
        return 0
    finally:
        for sink in sinks:
            sink.close()
        alerts.close()
        config_store.close()
        event_store.close()
