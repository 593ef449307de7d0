"""API keys, scopes and per-key rate limiting.

What belongs here: how a request proves who it is (``Authorization: Bearer <key>`` or
``X-API-Key``), the :class:`ApiKeyStore` port holding keys as SHA-256 hashes (never
the secret), the scope a route needs, and the token bucket that answers 429.

Scopes: ``read`` (GET config, audit, metrics), ``assign`` (assignment, flag
evaluation, OFREP), ``ingest`` (``POST /v1/events``) and ``admin`` (config writes;
implies the other three). Every route declares the scope it needs in ``opt["scope"]``;
routes without one (``/health``, ``/ready``, ``/v1/health``, ``/schema``) are public.
Authentication is ``auto`` by default: on as soon as one key exists, off for an
embedded demo with no keys; ``on`` and ``off`` force it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import anyio
from litestar.connection import ASGIConnection
from litestar.exceptions import (
    NotAuthorizedException,
    PermissionDeniedException,
    TooManyRequestsException,
)
from litestar.handlers.base import BaseRouteHandler

from abwb.errors import AbwbError, Conflict, InvalidInput

__all__ = [
    "SCOPES",
    "ApiKey",
    "ApiKeyStore",
    "AuthMode",
    "Authenticator",
    "MemoryApiKeyStore",
    "RateLimiter",
    "Scope",
    "SharedRateLimiter",
    "generate_secret",
    "hash_secret",
    "require_scope",
]

log = logging.getLogger(__name__)

Scope = Literal["read", "assign", "ingest", "admin"]
AuthMode = Literal["auto", "on", "off"]
SCOPES: tuple[Scope, ...] = ("read", "assign", "ingest", "admin")
#: Clients tracked by the rate limiter before idle ones are forgotten (bounded memory).
_MAX_BUCKETS = 100_000
#: What each scope grants (admin implies the others).
_GRANTS: dict[str, frozenset[str]] = {
    "read": frozenset({"read"}),
    "assign": frozenset({"assign"}),
    "ingest": frozenset({"ingest"}),
    "admin": frozenset({"read", "assign", "ingest", "admin"}),
}


def hash_secret(secret: str) -> str:
    """The stored form of an API key: hex SHA-256 of the secret.

    Examples:
        >>> hash_secret("s3cret")[:16]
        '1ec1c26b50d5d3c5'
    """
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def generate_secret() -> str:
    """A new random API key secret (``abwb_`` + 32 URL-safe random bytes)."""
    return "abwb_" + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored API key: its name, granted scopes and the hash of its secret."""

    name: str
    key_hash: str
    scopes: frozenset[str]

    def grants(self, scope: str) -> bool:
        """Whether this key may use a route needing ``scope``."""
        return any(scope in _GRANTS.get(s, frozenset()) for s in self.scopes)


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

        Raises:
            InvalidInput: empty name or secret, or an unknown scope.
            Conflict: the secret is already stored (active or revoked: a revoked key
                stays revoked).
        """
        wanted = frozenset(scopes)
        if not name:
            raise InvalidInput("must not be empty", path="name")
        if len(secret) < 8:
            raise InvalidInput("must be at least 8 characters", path="secret")
        unknown = sorted(wanted - set(SCOPES))
        if unknown or not wanted:
            raise InvalidInput(
                f"must be a non-empty subset of {list(SCOPES)}, got {sorted(wanted)}",
                path="scopes",
            )
        key = ApiKey(name=name, key_hash=hash_secret(secret), scopes=wanted)
        with self._lock:
            if key.key_hash in self._keys or key.key_hash in self._revoked:
                raise Conflict("this secret is already stored (active or revoked)")
            self._keys[key.key_hash] = key
            self._ever = True
        return key

    def ensure(self, name: str, secret: str, scopes: Iterable[str]) -> None:
        """Add the key unless its secret is already stored (start-up keys; idempotent)."""
        key_hash = hash_secret(secret)
        with self._lock:
            known = key_hash in self._keys or key_hash in self._revoked
        if not known:
            # Conflict here means another thread added it meanwhile: the key exists.
            with contextlib.suppress(Conflict):
                self.add(name, secret, scopes)

    def revoke(self, name: str) -> int:
        """Revoke every active key called ``name``; returns how many.

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


class SharedRateLimiter(Protocol):
    """A per-client limit shared by every worker process (e.g. in Redis).

    Implementations fail open: when their backend is down, ``acquire`` allows the
    request (and counts it) rather than raising.
    """

    rate_per_s: float

    async def acquire(self, who: str) -> float:
        """Take one token for ``who``: 0 when allowed, else the seconds to wait."""
        ...


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    """A token bucket per API key: ``rate_per_s`` sustained, bursts up to ``burst``.

    ``rate_per_s <= 0`` disables limiting.

    Examples:
        >>> t = [0.0]
        >>> limiter = RateLimiter(rate_per_s=1, burst=2, clock=lambda: t[0])
        >>> [limiter.acquire("k") for _ in range(3)]
        [0.0, 0.0, 1.0]
    """

    rate_per_s: float = 0.0
    burst: float = 1.0
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def acquire(self, who: str) -> float:
        """Take one token for ``who``.

        Returns:
            0 when allowed, else the seconds to wait before a token is available.
        """
        if self.rate_per_s <= 0:
            return 0.0
        now = self.clock()
        b = self._buckets.get(who)
        if b is None:
            if len(self._buckets) >= _MAX_BUCKETS:
                self._forget_idle(now)
            b = self._buckets[who] = _Bucket(tokens=self.burst, updated=now)
        b.tokens = min(self.burst, b.tokens + (now - b.updated) * self.rate_per_s)
        b.updated = now
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return 0.0
        return (1.0 - b.tokens) / self.rate_per_s

    def _forget_idle(self, now: float) -> None:
        """Drop buckets that have refilled completely: they hold no state worth keeping."""
        full_after_s = self.burst / self.rate_per_s
        self._buckets = {
            who: b for who, b in self._buckets.items() if now - b.updated < full_after_s
        }


@dataclass
class Authenticator:
    """Decides who a request is and whether it may proceed.

    Args:
        store: Where keys live.
        mode: ``auto`` (on when a key exists), ``on`` or ``off``.
        limiter: Per-key rate limit: in-process, or shared by every worker (Redis).
        refresh_s: How often the key list is re-read from the store.
    """

    store: ApiKeyStore
    mode: AuthMode = "auto"
    limiter: RateLimiter | SharedRateLimiter = field(default_factory=RateLimiter)
    refresh_s: float = 10.0
    clock: Callable[[], float] = time.monotonic
    _keys: list[ApiKey] = field(default_factory=list)
    _loaded_at: float = -math.inf
    _configured: bool = False

    def _current_keys(self) -> list[ApiKey]:
        return self._keys

    @property
    def stale(self) -> bool:
        """Whether the key list is due for a reload from the store."""
        return self.clock() - self._loaded_at >= self.refresh_s

    def reload(self) -> None:
        """Re-read the keys from the store (blocking: call it off the event loop).

        A store failure keeps the keys already loaded (logged); it never turns
        assignment requests into errors.
        """
        now = self.clock()
        try:
            keys = self.store.active()
            configured = bool(keys) or self.store.configured()
        except AbwbError as exc:
            log.warning("API keys not reloaded, keeping %d known: %s", len(self._keys), exc)
            self._loaded_at = now
            return
        self._keys = keys
        # once configured, always configured: a failed or empty read never opens the API
        self._configured = self._configured or configured
        self._loaded_at = now

    @property
    def enabled(self) -> bool:
        """Whether requests must present a key."""
        if self.mode == "auto":
            return self._configured
        return self.mode == "on"

    def identify(self, presented: str) -> ApiKey | None:
        """The key whose secret is ``presented`` (hashes compared in constant time)."""
        digest = hash_secret(presented)
        found = None
        for key in self._current_keys():
            # Compare against every key so timing does not reveal which hash matched.
            if hmac.compare_digest(key.key_hash, digest):
                found = key
        return found

    def authenticate(self, connection: ASGIConnection[Any, Any, Any, Any], scope: str) -> str:
        """Authenticate and authorise one request (no rate limit).

        Returns:
            ``key:<name>``, or ``""`` when authentication is off.

        Raises:
            NotAuthorizedException: no key, or an unknown key (401).
            PermissionDeniedException: the key lacks ``scope`` (403).
        """
        if not self.enabled:
            return ""
        presented = _presented_key(connection.headers)
        if presented is None:
            raise NotAuthorizedException(
                "send an API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
                headers={"WWW-Authenticate": 'Bearer realm="abwb"'},
            )
        key = self.identify(presented)
        if key is None:
            raise NotAuthorizedException(
                "unknown or revoked API key",
                headers={"WWW-Authenticate": 'Bearer realm="abwb", error="invalid_token"'},
            )
        if not key.grants(scope):
            raise PermissionDeniedException(
                f"API key {key.name!r} has scopes {sorted(key.scopes)}; this route needs {scope!r}"
            )
        return f"key:{key.name}"

    def check(self, connection: ASGIConnection[Any, Any, Any, Any], scope: str) -> str:
        """Authenticate, authorise and rate-limit one request (in-process limiter only).

        Returns:
            The actor recorded in the audit log: ``key:<name>``, or ``anonymous``
            when authentication is off.

        Raises:
            NotAuthorizedException: no key, or an unknown key (401).
            PermissionDeniedException: the key lacks ``scope`` (403).
            TooManyRequestsException: the key's rate limit is exhausted (429).
            TypeError: the limiter is a shared (async) one: use :meth:`admit`.
        """
        who = self.authenticate(connection, scope)
        if self.limiter.rate_per_s <= 0:
            return who or "anonymous"
        if not isinstance(self.limiter, RateLimiter):
            raise TypeError("a shared rate limiter is asynchronous: use admit()")
        client = who or _client_of(connection)
        self._refuse_if_waiting(self.limiter.acquire(client))
        return who or "anonymous"

    async def admit(self, connection: ASGIConnection[Any, Any, Any, Any], scope: str) -> str:
        """:meth:`check` for any limiter, in-process or shared across processes (Redis).

        Raises:
            NotAuthorizedException: no key, or an unknown key (401).
            PermissionDeniedException: the key lacks ``scope`` (403).
            TooManyRequestsException: the key's rate limit is exhausted (429).
        """
        who = self.authenticate(connection, scope)
        limiter = self.limiter
        if limiter.rate_per_s <= 0:
            return who or "anonymous"
        client = who or _client_of(connection)
        if isinstance(limiter, RateLimiter):
            wait = limiter.acquire(client)
        else:
            wait = await limiter.acquire(client)
        self._refuse_if_waiting(wait)
        return who or "anonymous"

    def _refuse_if_waiting(self, wait: float) -> None:
        if wait > 0:
            raise TooManyRequestsException(
                f"rate limit of {self.limiter.rate_per_s:g} requests/s exceeded; "
                f"retry in {wait:.2f} s",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )


def _client_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return f"ip:{connection.client.host if connection.client else 'unknown'}"


def _presented_key(headers: Any) -> str | None:
    auth = headers.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return str(token.strip())
    key = headers.get("x-api-key")
    return str(key).strip() or None if key else None


async def require_scope(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Litestar guard: the route's ``opt["scope"]`` must be granted to the caller.

    Routes without a scope (``/v1/health``, ``/schema``) are public.
    """
    scope = handler.opt.get("scope")
    if scope is None:
        return
    auth: Authenticator = connection.app.state.services.auth
    if auth.stale:
        await anyio.to_thread.run_sync(auth.reload)
    connection.scope["abwb_actor"] = await auth.admit(connection, scope)  # type: ignore[typeddict-unknown-key]
