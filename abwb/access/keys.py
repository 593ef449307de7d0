"""API keys: the port, how secrets are hashed, what a scope grants, the in-memory store.

What belongs here: :class:`ApiKey` (a stored key: name, scopes, SHA-256 hash of its
secret, never the secret), the :class:`ApiKeyStore` port, :func:`hash_secret` and
:func:`generate_secret`, the scopes and what each grants, and
:class:`MemoryApiKeyStore`. The SQL store is :mod:`abwb.access.stores`; the HTTP
guard that checks a request's key is :mod:`api.auth`.

Scopes: ``read`` (GET config, audit, metrics), ``assign`` (assignment, flag
evaluation, OFREP), ``ingest`` (``POST /v1/events``) and ``admin`` (config writes;
implies the other three).
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from abwb.errors import Conflict, InvalidInput

__all__ = [
    "SCOPES",
    "ApiKey",
    "ApiKeyStore",
    "MemoryApiKeyStore",
    "Scope",
    "generate_secret",
    "hash_secret",
    "validated_key",
]

Scope = Literal["read", "assign", "ingest", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "assign", "ingest", "admin")
#: What each scope grants (admin implies the others).
_GRANTS: dict[str, frozenset[str]] = {
    "read": frozenset({"read"}),
    "assign": frozenset({"assign"}),
    "ingest": frozenset({"ingest"}),
    "admin": frozenset({"read", "assign", "ingest", "admin"}),
}
#: Shortest secret accepted.
_MIN_SECRET = 8


def hash_secret(secret: str) -> str:
    """The stored form of an API key: hex SHA-256 of the secret.

    Args:
        secret: The key as presented by a client.

    Returns:
        64 lowercase hex digits.

    Examples:
        >>> hash_secret("s3cret")[:16]
        '1ec1c26b50d5d3c5'
    """
    return hashlib.sha256(secret.encode("utf-8", errors="surrogatepass")).hexdigest()


def generate_secret() -> str:
    """A new random API key secret (``abwb_`` + 32 URL-safe random bytes).

    Returns:
        The secret (show it once; store only its hash).
    """
    return "abwb_" + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored API key: its name, granted scopes and the hash of its secret."""

    name: str
    key_hash: str
    scopes: frozenset[str]

    def grants(self, scope: str) -> bool:
        """Whether this key may use a route needing ``scope``.

        Args:
            scope: The scope the route needs.

        Returns:
            ``True`` when one of the key's scopes implies it.
        """
        return any(scope in _GRANTS.get(s, frozenset()) for s in self.scopes)


def validated_key(name: str, secret: str, scopes: Iterable[str]) -> ApiKey:
    """The key to store for ``secret`` (hashed), after checking name, secret and scopes.

    Args:
        name: Who or what uses the key.
        secret: The secret (at least 8 characters, printable, no surrounding blanks).
        scopes: A non-empty subset of :data:`SCOPES`.

    Returns:
        The key, holding only the hash of ``secret``.

    Raises:
        InvalidInput: naming the field and the problem.
    """
    wanted = frozenset(scopes)
    if not name or not name.isprintable():
        raise InvalidInput("must be non-empty printable text", path="name")
    if len(secret) < _MIN_SECRET:
        raise InvalidInput(f"must be at least {_MIN_SECRET} characters", path="secret")
    if not secret.isprintable() or secret != secret.strip():
        # A key ending in a newline is not a key a client can send in a header.
        raise InvalidInput(
            "must be printable, without spaces at either end or control characters",
            path="secret",
        )
    unknown = sorted(wanted - set(SCOPES))
    if unknown or not wanted:
        raise InvalidInput(
            f"must be a non-empty subset of {list(SCOPES)}, got {sorted(wanted)}", path="scopes"
        )
    return ApiKey(name=name, key_hash=hash_secret(secret), scopes=wanted)


class ApiKeyStore(Protocol):
    """Where API keys live (hashed). Implementations must never store secrets."""

    def active(self) -> list[ApiKey]:
        """Every active (not revoked) key."""
        ...

    def configured(self) -> bool:
        """Whether any key was ever stored (revoked ones included).

        In ``auto`` mode this is what switches authentication on, so revoking the last
        key locks the API instead of opening it.
        """
        ...


class MemoryApiKeyStore:
    """API keys in process memory (tests, demos, keys given at start-up).

    Examples:
        >>> store = MemoryApiKeyStore()
        >>> store.add("ci", "s3cret-key", ["read"]).scopes
        frozenset({'read'})
    """

    def __init__(self) -> None:
        self._keys: dict[str, ApiKey] = {}
        self._revoked: set[str] = set()
        self._lock = threading.Lock()
        self._ever = False

    def add(self, name: str, secret: str, scopes: Iterable[str]) -> ApiKey:
        """Add a key (its secret is hashed immediately).

        Args:
            name: Who or what uses the key.
            secret: The secret.
            scopes: Its scopes.

        Returns:
            The stored key.

        Raises:
            InvalidInput: empty name or secret, or an unknown scope.
            Conflict: the secret is already stored (active or revoked: a revoked key
                stays revoked).
        """
        key = validated_key(name, secret, scopes)
        with self._lock:
            if key.key_hash in self._keys or key.key_hash in self._revoked:
                raise Conflict("this secret is already stored (active or revoked)")
            self._keys[key.key_hash] = key
            self._ever = True
        return key

    def ensure(self, name: str, secret: str, scopes: Iterable[str]) -> None:
        """Add the key unless its secret is already stored (start-up keys; idempotent).

        Args:
            name: Who or what uses the key.
            secret: The secret.
            scopes: Its scopes.
        """
        key_hash = hash_secret(secret)
        with self._lock:
            known = key_hash in self._keys or key_hash in self._revoked
        if not known:
            # Conflict here means another thread added it meanwhile: the key exists.
            with contextlib.suppress(Conflict):
                self.add(name, secret, scopes)

    def revoke(self, name: str) -> int:
        """Revoke every active key called ``name``.

        Args:
            name: The keys' name.

        Returns:
            How many keys were revoked.

        Raises:
            InvalidInput: ``name`` is empty.
        """
        if not name:
            raise InvalidInput("must not be empty", path="name")
        with self._lock:
            kept = {h: k for h, k in self._keys.items() if k.name != name}
            self._revoked.update(h for h in self._keys if h not in kept)
            revoked, self._keys = len(self._keys) - len(kept), kept
        return revoked

    def configured(self) -> bool:
        """Whether any key was ever added."""
        return self._ever

    def active(self) -> list[ApiKey]:
        """Every active key."""
        with self._lock:
            return list(self._keys.values())
