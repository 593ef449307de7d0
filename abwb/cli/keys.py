"""``abwb keys create|list|revoke``: manage the HTTP API's keys on the configured database.

What belongs here: the command-line face of :class:`abwb.access.stores.SqlApiKeyStore`
(no web layer involved). A new
key's secret is printed once, by ``create``, and never stored: the database keeps
only its SHA-256 hash. ``list`` shows names, scopes and dates, never secrets.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from abwb.errors import NotFound, StorageError
from abwb.settings import Settings

__all__ = ["register", "run_create", "run_list", "run_revoke"]


def register(sub: Any) -> None:
    """Add the ``keys`` subcommand and its ``create``, ``list`` and ``revoke`` actions."""
    p = sub.add_parser("keys", help="create, list and revoke API keys")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a key and print its secret once")
    create.add_argument("--name", required=True, help="who or what uses the key")
    create.add_argument(
        "--scope",
        action="append",
        required=True,
        dest="scopes",
        metavar="SCOPE",
        help="read | assign | ingest | admin (repeat for several; admin implies all)",
    )
    create.set_defaults(func=run_create)
    listing = actions.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--json", action="store_true", help="print JSON lines")
    listing.set_defaults(func=run_list)
    revoke = actions.add_parser("revoke", help="revoke every active key with this name")
    revoke.add_argument("name")
    revoke.set_defaults(func=run_revoke)


@contextmanager
def _key_store() -> Iterator[Any]:
    from abwb.access.stores import SqlApiKeyStore, api_key_store_for
    from abwb.store.opening import open_stores

    stores = open_stores(Settings.from_env())
    try:
        store = api_key_store_for(stores.database)
        if not isinstance(store, SqlApiKeyStore):  # pragma: no cover - open_stores is SQL
            raise StorageError("the configured database cannot hold API keys")
        yield store
    finally:
        stores.close()


def run_create(args: argparse.Namespace) -> int:
    """Create a key; print its secret (once) on stdout and a note on stderr."""
    from abwb.access.keys import generate_secret

    secret = generate_secret()
    with _key_store() as store:
        key = store.add(args.name, secret, args.scopes)
    print(secret)
    print(
        f"created API key {key.name!r} with scopes {sorted(key.scopes)}; the secret above "
        "is shown only now: store it safely (send it as 'Authorization: Bearer <key>')",
        file=sys.stderr,
    )
    return 0


def run_list(args: argparse.Namespace) -> int:
    """Print every key: name, scopes, created and revoked times."""
    with _key_store() as store:
        rows = store.listing()
    for row in rows:
        created = row.created_at.isoformat(timespec="seconds")
        revoked = row.revoked_at.isoformat(timespec="seconds") if row.revoked_at else None
        if args.json:
            print(
                json.dumps(
                    {
                        "name": row.name,
                        "scopes": list(row.scopes),
                        "created_at": created,
                        "revoked_at": revoked,
                    }
                )
            )
        else:
            state = f"revoked {revoked}" if revoked else "active"
            print(f"{row.name}\t{'+'.join(row.scopes)}\tcreated {created}\t{state}")
    if not rows and not args.json:
        print("no API keys (create one with: abwb keys create --name NAME --scope SCOPE)")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    """Revoke the active keys called ``name``.

    Raises:
        NotFound: no active key has that name.
    """
    with _key_store() as store:
        count = store.revoke(args.name)
    if count == 0:
        raise NotFound(f"no active API key named {args.name!r}")
    print(f"revoked {count} key(s) named {args.name!r}")
    return 0
