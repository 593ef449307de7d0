"""API keys kept in the config database (the ``api_keys`` table of the store schema).

What belongs here: :class:`SqlApiKeyStore`, the :class:`~abwb.access.ApiKeyStore` on
the SQLite or PostgreSQL database a config store already uses, and
:func:`api_key_store_for`, which picks it (or the in-memory store) for ``create_app``
and ``abwb keys``.
Secrets are validated and hashed here; the SQL, which sees only SHA-256 hashes, is the
store adapter :class:`~abwb.store.api_keys.SqlApiKeyHashStore`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from abwb.access.keys import ApiKey, MemoryApiKeyStore, hash_secret, validated_key
from abwb.errors import Conflict
from abwb.store.api_keys import SqlApiKeyHashStore
from abwb.store.dialect import SqlDatabase

__all__ = ["ApiKeyInfo", "SqlApiKeyStore", "api_key_store_for"]


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """What may be shown about a stored key: never its secret, nor its hash.

    Attributes:
        name: The key's name.
        scopes: Its scopes, sorted.
        created_at: When it was stored (UTC).
        revoked_at: When it was revoked (UTC), ``None`` while active.
    """

    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None


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

    def __init__(self, db: SqlDatabase) -> None:
        self.db = db
        self._hashes = SqlApiKeyHashStore(db)

    def active(self) -> list[ApiKey]:
        """Every key not revoked."""
        return [
            ApiKey(name=k.name, key_hash=k.key_hash, scopes=k.scopes) for k in self._hashes.active()
        ]

    def configured(self) -> bool:
        """Whether any key was ever stored (revoked ones included)."""
        return self._hashes.configured()

    def listing(self) -> list[ApiKeyInfo]:
        """Every key ever stored (revoked ones included), oldest first, without hashes.

        Raises:
            StorageError: the database failed.
        """
        d = self.db.dialect
        query = (
            f"SELECT name, {d.json_text('scopes')}, created_at, revoked_at FROM api_keys "
            "ORDER BY created_at, name"
        )
        with self.db.transaction("list API keys", write=False) as conn:
            rows = conn.execute(query).fetchall()
        return [
            ApiKeyInfo(
                name=name,
                scopes=tuple(sorted(json.loads(scopes))),
                created_at=d.from_timestamp(created),
                revoked_at=None if revoked is None else d.from_timestamp(revoked),
            )
            for name, scopes, created, revoked in rows
        ]

    def add(
        self, name: str, secret: str, scopes: Iterable[str], *, now: datetime | None = None
    ) -> ApiKey:
        """Store a key (hashed).

        Raises:
            InvalidInput: empty name, short secret or unknown scope.
            Conflict: the same secret is already stored.
        """
        key = validated_key(name, secret, scopes)
        self._hashes.add(key.name, key.key_hash, key.scopes, now=now)
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
        """Revoke every active key called ``name``; returns how many.

        Raises:
            InvalidInput: ``name`` is empty.
        """
        return self._hashes.revoke(name, now=now)


def api_key_store_for(database: SqlDatabase | None) -> SqlApiKeyStore | MemoryApiKeyStore:
    """The key store in ``database`` (the config store's), else in memory."""
    return MemoryApiKeyStore() if database is None else SqlApiKeyStore(database)
