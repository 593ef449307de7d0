"""API keys kept in the config database (the ``api_keys`` table of the store schema).

What belongs here: :class:`SqlApiKeyStore`, the :class:`~api.auth.ApiKeyStore` on the
SQLite or PostgreSQL database a config store already uses, and
:func:`api_key_store_for`, which picks it (or the in-memory store) for ``create_app``.
Only SHA-256 hashes of secrets are stored. Driver errors never escape: the
databases' ``transaction()`` turns them into :class:`~abwb.errors.StorageError`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from abwb.errors import Conflict, InvalidInput
from api.auth import ApiKey, MemoryApiKeyStore, hash_secret

__all__ = ["SqlApiKeyStore", "api_key_store_for"]


def _micros(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000)


class SqlApiKeyStore:
    """API keys in the ``api_keys`` table of an abwb database.

    Args:
        db: A :class:`~abwb.store.SqliteDatabase` or :class:`~abwb.store.PostgresDatabase`
            (the ``db`` of a config store).

    Examples:
        >>> import tempfile, pathlib
        >>> from abwb.store import SqliteDatabase
        >>> keys = SqlApiKeyStore(SqliteDatabase(pathlib.Path(tempfile.mkdtemp()) / "k.db"))
        >>> keys.add("ci", "secret-123", ["read"]).name
        'ci'
        >>> [k.name for k in keys.active()]
        ['ci']
    """

    def __init__(self, db: Any) -> None:
        self.db = db
        self._postgres = hasattr(db, "pool")
        self._param = "%s" if self._postgres else "?"

    def _sql(self, text: str) -> str:
        return text.replace("?", self._param)

    def active(self) -> list[ApiKey]:
        """Every key not revoked."""
        query = "SELECT name, key_hash, scopes FROM api_keys WHERE revoked_at IS NULL"
        with self._transaction("read API keys", write=False) as conn:
            rows = conn.execute(query).fetchall()
        return [
            ApiKey(
                name=name,
                key_hash=key_hash,
                scopes=frozenset(scopes if isinstance(scopes, list) else json.loads(scopes)),
            )
            for name, key_hash, scopes in rows
        ]

    def configured(self) -> bool:
        """Whether any key was ever stored (revoked ones included)."""
        with self._transaction("read API keys", write=False) as conn:
            return conn.execute("SELECT 1 FROM api_keys LIMIT 1").fetchone() is not None

    def add(
        self, name: str, secret: str, scopes: Iterable[str], *, now: datetime | None = None
    ) -> ApiKey:
        """Store a key (hashed).

        Raises:
            InvalidInput: empty name, short secret or unknown scope.
            Conflict: the same secret is already stored.
        """
        key = MemoryApiKeyStore().add(name, secret, scopes)  # validates
        at = now or datetime.now(UTC)
        scopes_json = json.dumps(sorted(key.scopes))
        created: Any = at if self._postgres else _micros(at)
        with self._transaction("add an API key") as conn:
            found = conn.execute(
                self._sql("SELECT 1 FROM api_keys WHERE key_hash = ?"), (key.key_hash,)
            ).fetchone()
            if found is not None:
                raise Conflict(f"an API key with this secret already exists ({name!r} given)")
            conn.execute(
                self._sql(
                    "INSERT INTO api_keys (key_hash, name, scopes, created_at) VALUES (?, ?, ?, ?)"
                ),
                (key.key_hash, key.name, scopes_json, created),
            )
        return key

    def ensure(self, name: str, secret: str, scopes: Iterable[str]) -> None:
        """Store a bootstrap key unless its secret is already stored (idempotent)."""
        digest = hash_secret(secret)
        if any(k.key_hash == digest for k in self.active()):
            return
        # Conflict: stored meanwhile, or revoked (a revoked key stays revoked).
        with contextlib.suppress(Conflict):
            self.add(name, secret, scopes)

    def revoke(self, name: str, *, now: datetime | None = None) -> int:
        """Revoke every active key called ``name``; returns how many."""
        if not name:
            raise InvalidInput("must not be empty", path="name")
        at = now or datetime.now(UTC)
        stamp: Any = at if self._postgres else _micros(at)
        with self._transaction("revoke an API key") as conn:
            cur = conn.execute(
                self._sql(
                    "UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL"
                ),
                (stamp, name),
            )
            return int(cur.rowcount)

    def _transaction(self, what: str, *, write: bool = True) -> Any:
        if self._postgres:
            return self.db.transaction(what)
        return self.db.transaction(what, write=write)


def api_key_store_for(config_store: Any) -> SqlApiKeyStore | MemoryApiKeyStore:
    """The key store living next to ``config_store``: its database, else memory."""
    inner = getattr(config_store, "store", config_store)  # unwrap a publishing store
    db = getattr(inner, "db", None)
    if db is not None and hasattr(db, "transaction"):
        return SqlApiKeyStore(db)
    return MemoryApiKeyStore()
