"""``abwb migrate``: apply the packaged SQL migrations to the configured database.

Idempotent: running it again applies nothing. A database whose schema is newer than
this build is refused with both versions named. ``--check`` only reports.
"""

from __future__ import annotations

import argparse
from typing import Any

from abwb.settings import Settings
from abwb.store.schema import LATEST_SCHEMA_VERSION

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    """Add the ``migrate`` subcommand."""
    p = sub.add_parser(
        "migrate",
        help="create or upgrade the database schema (idempotent)",
        description="Apply the packaged SQL migrations to the configured database "
        "(ABWB_DATABASE_URL, schema ABWB_DATABASE_SCHEMA); running it again applies nothing.",
        epilog="examples:\n  abwb migrate\n  abwb migrate --check   # exit 1 if migrations "
        "are pending\n  ABWB_DATABASE_URL=postgresql://localhost/test abwb migrate --schema abwb",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--database-url",
        help="sqlite:///path or postgresql://... (default: ABWB_DATABASE_URL or the embedded file)",
    )
    p.add_argument(
        "--schema", default=None,
        help="PostgreSQL schema (default: ABWB_DATABASE_SCHEMA, else public)",
    )
    p.add_argument(
        "--check", action="store_true", help="only report; exit 1 if migrations are pending"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Apply (or with ``--check`` report) pending migrations; returns the exit code."""
    database = Settings.from_env().database
    url = args.database_url or database.effective_url
    schema = args.schema or database.schema
    migrate = not args.check
    db: Any
    if url.startswith(("postgresql://", "postgres://")):
        from abwb.store.postgres import PostgresDatabase

        db = PostgresDatabase(url, schema=schema, migrate=migrate, require_latest=False)
        where = db.where
    else:
        from abwb.store.sqlite import SqliteDatabase, sqlite_path

        db = SqliteDatabase(sqlite_path(url), migrate=migrate, require_latest=False)
        where = str(db.path)
    try:
        found = db.schema_version()
    finally:
        db.close()
    if args.check:
        pending = LATEST_SCHEMA_VERSION - found
        state = f"{pending} migration(s) pending" if pending else "up to date"
        print(f"{where}: schema version {found} of {LATEST_SCHEMA_VERSION} ({state})")
        return 1 if pending else 0
    if db.applied:
        print(f"{where}: applied migration(s) {db.applied}; schema version {found}")
    else:
        print(f"{where}: schema version {found} is up to date; nothing to apply")
    return 0
