"""``abwb serve``: run the HTTP API (Litestar on uvicorn; ``--workers N`` processes).

Without options it serves the stores of the settings (embedded SQLite by default,
PostgreSQL when ``ABWB_DATABASE_URL`` says so). ``--demo`` or ``--config FILE`` serve
an in-memory workspace seeded from the demo config or a config-as-code file instead
(nothing is persisted; handy for demos and load tests).

Secure by default: binding an address other than loopback is refused while no API
key is known, unless ``ABWB_API_AUTH=off`` says so explicitly (then a warning is
printed at start-up). ``X-Forwarded-For`` is believed only from
``ABWB_API_TRUSTED_PROXIES`` (none by default), so the per-client rate limit cannot be
dodged with a forged header.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from dataclasses import replace
from typing import Any

from abwb.errors import InvalidInput
from abwb.settings import Settings

__all__ = ["build_app", "check_exposure", "is_loopback", "register", "run", "worker_app"]

#: How ``abwb serve --workers N`` hands its options to each worker process's app factory.
_WORKER_ARGS_ENV = "ABWB_SERVE_WORKER_ARGS"

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    """Add the ``serve`` subcommand."""
    p = sub.add_parser("serve", help="run the HTTP API (uvicorn)")
    p.add_argument("--host", help="bind address (default ABWB_API_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default ABWB_API_PORT or 8000)")
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--demo", action="store_true", help="serve the demo config from memory (nothing persisted)"
    )
    source.add_argument(
        "--config", metavar="FILE", help="serve this config file from memory (nothing persisted)"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the port (each with its own snapshot and watcher)",
    )
    p.add_argument(
        "--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"]
    )
    p.set_defaults(func=run)


def build_app(args: argparse.Namespace, settings: Settings) -> Any:
    """The application ``args`` ask for.

    Raises:
        InvalidInput: the config file is invalid.
        StorageError: the configured stores cannot be opened.
    """
    try:
        from api import create_app
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise InvalidInput("the HTTP API needs the 'api' extra: pip install 'abwb[api]'") from exc
    if not (args.demo or args.config):
        return create_app(settings)
    from abwb.config.io import load_bundle
    from abwb.demo.scenario import demo_bundle
    from abwb.store.memory import MemoryConfigStore, MemoryEventStore

    bundle = demo_bundle() if args.demo else load_bundle(args.config)
    return create_app(
        settings, config_store=MemoryConfigStore(bundle), event_store=MemoryEventStore()
    )


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` only accepts connections from this machine.

    Examples:
        >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
        (True, True, False)
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, app: Any) -> None:
    """Refuse to serve an open API on a network address.

    Args:
        host: The bind address.
        app: The application (its ``services.auth`` tells whether keys are required).

    Raises:
        InvalidInput: ``host`` is not loopback, authentication is not explicitly off and
            no API key is known.
    """
    if is_loopback(host):
        return
    auth = app.state.services.auth
    if auth.mode == "off":
        message = (
            f"WARNING: serving {host} with authentication OFF (ABWB_API_AUTH=off): anyone "
            "who can reach this address can change experiments and kill flags"
        )
        log.critical(message)
        print(message, file=sys.stderr)
        return
    if not auth.keys.keys:
        raise InvalidInput(
            f"refusing to bind {host} without API keys: create one (abwb keys create --name "
            "NAME --scope admin), set ABWB_API_KEYS, or set ABWB_API_AUTH=off explicitly",
            path="--host",
        )


def worker_app() -> Any:
    """The app factory each ``--workers`` process calls (options from the parent's env).

    Every worker builds its own services: its own snapshot holder and config watcher
    (so a change made through one worker reaches the others through the store's version
    poll, PostgreSQL NOTIFY or Redis pub/sub), and its own exposure log (de-dup across
    workers goes through Redis when ``ABWB_REDIS_URL`` is set; the store de-duplicates
    on ``exposure_id`` in any case).
    """
    import json
    import os

    from api.heap import freeze_startup_heap

    raw = json.loads(os.environ[_WORKER_ARGS_ENV])
    settings = Settings.from_env()
    settings = replace(
        settings, api=replace(settings.api, host=raw["host"], port=raw["port"])
    )
    app = build_app(argparse.Namespace(demo=False, config=None), settings)
    if raw.get("metrics_dir"):
        from pathlib import Path

        from api.worker_metrics import share_metrics

        share_metrics(app, Path(raw["metrics_dir"]))  # /metrics answers for every worker
    freeze_startup_heap()  # full GC pauses skip what start-up built
    return app


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; returns the exit code.

    Raises:
        InvalidInput: a bad port or worker count, or ``--workers`` with an in-memory
            workspace (``--demo`` / ``--config``: each process would have its own copy).
    """
    import uvicorn

    from abwb.cli.supervisor import reuse_port_supported, serve_workers

    settings = Settings.from_env()
    host = args.host or settings.api.host
    port = args.port or settings.api.port
    workers = getattr(args, "workers", 1)
    if not 0 < port < 65536:
        raise InvalidInput(f"must be in [1, 65535], got {port}", path="--port")
    if not 1 <= workers <= 64:
        raise InvalidInput(f"must be in [1, 64], got {workers}", path="--workers")
    if workers > 1 and (args.demo or args.config):
        raise InvalidInput(
            "--workers > 1 needs a shared store (SQLite file or PostgreSQL): an in-memory "
            "workspace (--demo / --config) would differ per worker",
            path="--workers",
        )
    settings = replace(settings, api=replace(settings.api, host=host, port=port))
    app = build_app(args, settings)
    check_exposure(host, app)
    print(
        f"abwb serve: listening on http://{host}:{port} with {workers} worker(s) "
        "(OpenAPI at /schema); Ctrl-C stops",
        flush=True,
    )
    from abwb.cli.http_protocol import PROTOCOL

    common: dict[str, Any] = {
        "host": host,
        "http": PROTOCOL,  # each response's head and body in one write
        "port": port,
        "log_level": args.log_level,
        "access_log": False,
        "lifespan": "on",
        # X-Forwarded-* only from configured proxies (uvicorn trusts loopback otherwise)
        "proxy_headers": bool(settings.api.trusted_proxies),
        "forwarded_allow_ips": list(settings.api.trusted_proxies) or "",
    }
    if workers == 1:
        from api.heap import freeze_startup_heap

        freeze_startup_heap()  # full GC pauses skip what start-up built
        uvicorn.run(app, **common)
        return 0
    import json
    import os
    import shutil
    import tempfile

    # the parent's app was built only to check the configuration: the workers build theirs
    metrics_dir = tempfile.mkdtemp(prefix="abwb-workers-")  # their shared /metrics
    os.environ[_WORKER_ARGS_ENV] = json.dumps(
        {"host": host, "port": port, "metrics_dir": metrics_dir}
    )
    try:
        if reuse_port_supported():  # a listening socket per worker: see abwb.cli.supervisor
            return serve_workers(workers, host, port, common)
        uvicorn.run("abwb.cli.serve:worker_app", factory=True, workers=workers, **common)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0
