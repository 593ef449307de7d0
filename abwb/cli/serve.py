"""``abwb serve``: run the HTTP API (Litestar on uvicorn, one process).

Without options it serves the stores of the settings (embedded SQLite by default,
PostgreSQL when ``ABWB_DATABASE_URL`` says so). ``--demo`` or ``--config FILE`` serve
an in-memory workspace seeded from the demo config or a config-as-code file instead
(nothing is persisted; handy for demos and load tests).
"""

from __future__ import annotations

import argparse
from typing import Any

from abwb.errors import InvalidInput
from abwb.settings import Settings

__all__ = ["build_app", "register", "run"]


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


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; returns the exit code."""
    import uvicorn

    settings = Settings.from_env()
    host = args.host or settings.api.host
    port = args.port or settings.api.port
    if not 0 < port < 65536:
        raise InvalidInput(f"must be in [1, 65535], got {port}", path="--port")
    app = build_app(args, settings)
    print(f"abwb serve: listening on http://{host}:{port} (OpenAPI at /schema); Ctrl-C stops",
          flush=True)
    uvicorn.run(
        app, host=host, port=port, log_level=args.log_level, access_log=False, lifespan="on"
    )
    return 0
