"""The HTTP guard: API key, scope and per-key rate limit of each request.

What belongs here: how a request proves who it is (``Authorization: Bearer <key>`` or
``X-API-Key``), checking the route's scope against the key, and the token bucket that
answers 429. Keys, their hashing, scopes and stores are :mod:`abwb.access`; the key
list is read from an :class:`~abwb.access.ApiKeyRing` that refreshes in the
background, so a request never waits on the key store.

Every route declares the scope it needs in ``opt["scope"]``;
routes without one (``/health``, ``/ready``, ``/v1/health``, ``/schema``) are public.
Authentication is ``auto`` by default: on as soon as one key exists, off for an
embedded demo with no keys; ``on`` and ``off`` force it.
"""

from __future__ import annotations

import hmac
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from litestar.connection import ASGIConnection
from litestar.exceptions import (
    NotAuthorizedException,
    PermissionDeniedException,
    TooManyRequestsException,
)
from litestar.handlers.base import BaseRouteHandler

from abwb.access.key_ring import ApiKeyRing
from abwb.access.keys import ApiKey, hash_secret

__all__ = ["AuthMode", "Authenticator", "RateLimiter", "SharedRateLimiter", "require_scope"]

log = logging.getLogger(__name__)

AuthMode = Literal["auto", "on", "off"]
#: Clients tracked by the rate limiter before idle ones are forgotten (bounded memory).
_MAX_BUCKETS = 100_000


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
        keys: The key list (refreshed in the background, never on a request).
        mode: ``auto`` (on when a key exists), ``on`` or ``off``.
        limiter: Per-key rate limit: in-process, or shared by every worker (Redis).
    """

    keys: ApiKeyRing
    mode: AuthMode = "auto"
    limiter: RateLimiter | SharedRateLimiter = field(default_factory=RateLimiter)

    @property
    def enabled(self) -> bool:
        """Whether requests must present a key."""
        if self.mode == "auto":
            return self.keys.configured
        return self.mode == "on"

    def identify(self, presented: str) -> ApiKey | None:
        """The key whose secret is ``presented`` (hashes compared in constant time)."""
        digest = hash_secret(presented)
        found = None
        for key in self.keys.keys:
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
    connection.scope["abwb_actor"] = await auth.admit(connection, scope)  # type: ignore[typeddict-unknown-key]
