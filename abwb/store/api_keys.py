"""API-key hashes in the abwb database: the ``api_keys`` table on SQLite or PostgreSQL.

What belongs here: :class:`SqlApiKeyHashStore`, the SQL behind the API's key store,
written once for both dialects (:mod:`abwb.store.dialect`) on the database the config
store uses, and the :class:`StoredApiKey` row it returns. It stores and returns only
SHA-256 hashes; secrets, validation of names and scopes, and what a scope grants stay
in :mod:`abwb.access`. Driver errors come out as
:class:`~abwb.errors.StorageError` from the database's ``transaction()``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from abwb.errors import Conflict, InvalidInput
from abwb.store.dialect import SqlDatabase

__all__ = ["SqlApiKeyHashStore", "StoredApiKey"]


@dataclass(frozen=True, slots=True)
class StoredApiKey:
    """One active API key as stored: its name, the hash of its secret, its scopes."""

    name: str
    key_hash: str
    scopes: frozenset[str]


class SqlApiKeyHashStore:
    """API-key hashes in the ``api_keys`` table of an abwb database.

    Args:
        database: The open database (the ``db`` of a config store).

    Examples:
        >>> import tempfile, pathlib
        >>> from abwb.store import SqliteDatabase
        >>> keys = SqlApiKeyHashStore(SqliteDatabase(pathlib.Path(tempfile.mkdtemp()) / "k.db"))
        >>> keys.add("ci", "ab12" * 16, ["read"])
        >>> [(k.name, sorted(k.scopes)) for k in keys.active()]
        [('ci', ['read'])]
    """

    def __init__(self, database: SqlDatabase) -> None:
        self.db = database
        self._dialect = database.dialect

    def active(self) -> list[StoredApiKey]:
        """Every key not revoked."""
        scopes = self._dialect.json_text("scopes")
        query = f"SELECT name, key_hash, {scopes} FROM api_keys WHERE revoked_at IS NULL"
        with self.db.transaction("read API keys", write=False) as conn:
            rows = conn.execute(query).fetchall()
        return [
            StoredApiKey(name=name, key_hash=key_hash, scopes=frozenset(json.loads(scopes)))
            for name, key_hash, scopes in rows
        ]

    def configured(self) -> bool:
        """Whether any key was ever stored (revoked ones included)."""
        with self.db.transaction("read API keys", write=False) as conn:
            return conn.execute("SELECT 1 FROM api_keys LIMIT 1").fetchone() is not None

    def add(
        self, name: str, key_hash: str, scopes: Iterable[str], *, now: datetime | None = None
    ) -> None:
        """Store a key by the hash of its secret.

        Raises:
            Conflict: a key with this hash is already stored (revoked ones included).
        """
        d = self._dialect
        created = d.timestamp(now or datetime.now(UTC))
        with self.db.transaction("add an API key") as conn:
            found = conn.execute(
                d.sql("SELECT 1 FROM api_keys WHERE key_hash = ?"), (key_hash,)
            ).fetchone()
            if found is not None:
                raise Conflict(f"an API key with this secret already exists ({name!r} given)")
            conn.execute(
                d.sql(
                    "INSERT INTO api_keys (key_hash, name, scopes, created_at) "
                    f"VALUES (?, ?, {d.json_param}, ?)"
                ),
                (key_hash, name, json.dumps(sorted(scopes)), created),
            )

    def revoke(self, name: str, *, now: datetime | None = None) -> int:
        """Revoke every active key called ``name``; returns how many.

        Raises:
            InvalidInput: ``name`` is empty.
        """
        if not name:
            raise InvalidInput("must not be empty", path="name")
        d = self._dialect
        stamp = d.timestamp(now or datetime.now(UTC))
        with self.db.transaction("revoke an API key") as conn:
            cur = conn.execute(
                d.sql("UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL"),
                (stamp, name),
            )
            return int(cur.rowcount)
