"""Redis adapters for the assignment path: sticky assignments, exposure de-dup, unit context.

What belongs here: :class:`RedisAssignmentCache` (the production
:class:`~abwb.cache.AssignmentCache`), :class:`RedisContextProvider` (stored unit
attributes for targeting) and the :class:`CircuitBreaker` that keeps a sick Redis
from slowing the hot path. Every Redis call has a short socket timeout (50 ms by
default) and no retries; after ``failure_threshold`` consecutive failures the breaker
opens and calls fail fast with :class:`~abwb.errors.CacheError` for ``cooldown_s``,
then one trial call decides whether to close it again. Callers degrade on
``CacheError`` (see :mod:`abwb.assignment.sticky`): assignment never waits on Redis.

Keys (``prefix`` defaults to ``abwb:``)::

    {prefix}sticky:{unit_type}:{unit_id}   hash  sticky_key → variant
    {prefix}exposed:{key}                  string, SET NX PX (exposure de-dup)
    {prefix}attrs:{unit_type}:{unit_id}    hash  attribute → JSON value
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar

import msgspec
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from abwb.errors import CacheError, InvalidInput

__all__ = ["CircuitBreaker", "RedisAssignmentCache", "RedisContextProvider", "redis_client"]

T = TypeVar("T")
BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Stops calling a failing dependency for a cool-down, then lets one trial through.

    Args:
        failure_threshold: Consecutive failures that open the circuit.
        cooldown_s: How long it stays open before a trial call is allowed.
        clock: Monotonic clock in seconds (injectable for tests).

    Examples:
        >>> t = [0.0]
        >>> breaker = CircuitBreaker(failure_threshold=2, cooldown_s=5, clock=lambda: t[0])
        >>> breaker.record_failure(); breaker.record_failure(); breaker.state
        'open'
        >>> breaker.allow()
        False
        >>> t[0] = 6.0; breaker.allow(), breaker.state
        (True, 'half_open')
        >>> breaker.record_success(); breaker.state
        'closed'
    """

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        cooldown_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise InvalidInput(f"must be >= 1, got {failure_threshold}", path="failure_threshold")
        if cooldown_s < 0:
            raise InvalidInput(f"must be >= 0, got {cooldown_s}", path="cooldown_s")
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> BreakerState:
        """``closed`` (calls go through), ``open`` (fail fast) or ``half_open`` (trial)."""
        if self._opened_at is None:
            return "closed"
        return "half_open" if self._trial_running else "open"

    def allow(self) -> bool:
        """Whether a call may go through now (in ``half_open``, only one trial at a time)."""
        if self._opened_at is None:
            return True
        if self._trial_running or self._clock() - self._opened_at < self.cooldown_s:
            return False
        self._trial_running = True
        return True

    def remaining_s(self) -> float:
        """Seconds until a trial call is allowed (0 when closed)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self.cooldown_s - (self._clock() - self._opened_at))

    def record_success(self) -> None:
        """A call succeeded: close the circuit."""
        self._failures = 0
        self._opened_at = None
        self._trial_running = False

    def record_failure(self) -> None:
        """A call failed: count it, (re)open the circuit at the threshold or after a trial."""
        self._failures += 1
        if self._trial_running or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
        self._trial_running = False


def redis_client(
    url: str, *, socket_timeout_s: float = 0.05, connect_timeout_s: float = 0.05
) -> aioredis.Redis:
    """An asyncio Redis client tuned for the hot path: short timeouts, no retries.

    Raises:
        CacheError: the URL is malformed.
    """
    try:
        return aioredis.Redis.from_url(
            url,
            socket_timeout=socket_timeout_s,
            socket_connect_timeout=connect_timeout_s,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
            decode_responses=True,
        )
    except (ValueError, RedisError) as exc:
        raise CacheError(f"invalid Redis URL: {exc}") from exc


class _Guarded:
    """Breaker + error translation shared by the Redis adapters."""

    def __init__(self, client: aioredis.Redis, breaker: CircuitBreaker, prefix: str) -> None:
        self.client = client
        self.breaker = breaker
        self.prefix = prefix
        #: Counts of ``calls``, ``failures`` and ``short_circuited`` calls.
        self.counters: Counter[str] = Counter()

    async def call(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        if not self.breaker.allow():
            self.counters["short_circuited"] += 1
            raise CacheError(
                f"redis {what} skipped: circuit open after repeated failures "
                f"(next try in {self.breaker.remaining_s():.1f} s)"
            )
        self.counters["calls"] += 1
        try:
            result = await operation()
        except (TimeoutError, RedisError, OSError) as exc:
            self.breaker.record_failure()
            self.counters["failures"] += 1
            raise CacheError(f"redis {what} failed: {type(exc).__name__}: {exc}") from exc
        self.breaker.record_success()
        return result

    async def purge(self) -> int:
        """Delete every key under the prefix; returns how many (tests, maintenance)."""

        async def scan_delete() -> int:
            deleted = 0
            async for key in self.client.scan_iter(match=f"{self.prefix}*", count=1000):
                deleted += await self.client.delete(key)
            return deleted

        return await self.call("purge", scan_delete)

    async def close(self) -> None:
        try:
            await self.client.aclose()
        except (RedisError, OSError) as exc:  # closing a dead connection is not an error
            self.counters["close_failed"] += 1
            del exc


class RedisAssignmentCache(_Guarded):
    """Sticky assignments and exposure de-duplication in Redis.

    Args:
        url: ``redis://host:port/db`` (ignored when ``client`` is given).
        client: An existing asyncio client (shared with other adapters).
        prefix: Key prefix (isolates tenants and tests).
        sticky_ttl_s: Sticky assignments expire this long after the last write
            (``None``: never).
        socket_timeout_s: Per-call socket timeout.
        breaker: Circuit breaker (default: open after 5 failures for 5 s).
    """

    #: Marks are shared by every process through Redis: none kept here.
    exposure_marks_shared = True

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        client: aioredis.Redis | None = None,
        prefix: str = "abwb:",
        sticky_ttl_s: float | None = 90 * 86_400,
        socket_timeout_s: float = 0.05,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        super().__init__(
            client
            or redis_client(
                url, socket_timeout_s=socket_timeout_s, connect_timeout_s=socket_timeout_s
            ),
            breaker or CircuitBreaker(),
            prefix,
        )
        self.sticky_ttl_ms = None if sticky_ttl_s is None else int(sticky_ttl_s * 1000)

    def _sticky_key(self, unit_type: str, unit_id: str) -> str:
        return f"{self.prefix}sticky:{unit_type}:{unit_id}"

    async def get_sticky(self, unit_type: str, unit_id: str) -> dict[str, str]:
        """Stored sticky assignments of a unit: ``sticky_key`` → variant.

        Raises:
            CacheError: Redis failed or the circuit is open.
        """
        key = self._sticky_key(unit_type, unit_id)
        found = await self.call("get_sticky", lambda: self.client.hgetall(key))
        return {str(k): str(v) for k, v in found.items()}

    async def set_sticky(
        self, unit_type: str, unit_id: str, assignments: Mapping[str, str]
    ) -> None:
        """Merge sticky assignments of a unit (and refresh their TTL).

        Raises:
            CacheError: Redis failed or the circuit is open.
        """
        if not assignments:
            return
        key = self._sticky_key(unit_type, unit_id)

        async def write() -> None:
            pipe = self.client.pipeline(transaction=False)
            pipe.hset(key, mapping=dict(assignments))  # type: ignore[arg-type]
            if self.sticky_ttl_ms is not None:
                pipe.pexpire(key, self.sticky_ttl_ms)
            await pipe.execute()

        await self.call("set_sticky", write)

    async def first_exposure(self, key: str, ttl_s: float) -> bool:
        """``True`` only the first time ``key`` is recorded within ``ttl_s`` (``SET NX PX``).

        Raises:
            CacheError: Redis failed or the circuit is open.
        """
        ttl_ms = max(1, int(ttl_s * 1000))
        full = f"{self.prefix}exposed:{key}"
        created = await self.call(
            "first_exposure", lambda: self.client.set(full, "1", nx=True, px=ttl_ms)
        )
        return bool(created)

    async def first_exposures(self, keys: Sequence[str], ttl_s: float) -> list[bool]:
        """:meth:`first_exposure` for each of ``keys`` in one pipeline (one round trip).

        Raises:
            CacheError: Redis failed or the circuit is open.
        """
        if not keys:
            return []
        ttl_ms = max(1, int(ttl_s * 1000))

        async def write() -> list[Any]:
            async with self.client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.set(f"{self.prefix}exposed:{key}", "1", nx=True, px=ttl_ms)
                return await pipe.execute()

        return [bool(created) for created in await self.call("first_exposures", write)]

    async def forget_exposure(self, key: str) -> None:
        """Remove ``key`` (see :meth:`first_exposure`).

        Raises:
            CacheError: Redis failed or the circuit is open.
        """
        full = f"{self.prefix}exposed:{key}"
        await self.call("forget_exposure", lambda: self.client.delete(full))

    async def purge(self) -> int:
        """Delete every key under this cache's prefix; returns how many."""
        return await super().purge()

    async def close(self) -> None:
        """Close the connection pool."""
        await super().close()


class RedisContextProvider(_Guarded):
    """Stored unit attributes (plan, country, signup date) for targeting, kept in Redis.

    Implements the targeting ``ContextProvider`` shape:
    ``async attributes(unit_type, unit_id) -> dict``. Values are stored as JSON so
    numbers and booleans keep their type.

    Args:
        url: ``redis://host:port/db`` (ignored when ``client`` is given).
        client: An existing asyncio client.
        prefix: Key prefix.
        socket_timeout_s: Per-call socket timeout.
        breaker: Circuit breaker (default: open after 5 failures for 5 s).
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        client: aioredis.Redis | None = None,
        prefix: str = "abwb:",
        socket_timeout_s: float = 0.05,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        super().__init__(
            client
            or redis_client(
                url, socket_timeout_s=socket_timeout_s, connect_timeout_s=socket_timeout_s
            ),
            breaker or CircuitBreaker(),
            prefix,
        )

    def _key(self, unit_type: str, unit_id: str) -> str:
        return f"{self.prefix}attrs:{unit_type}:{unit_id}"

    async def attributes(self, unit_type: str, unit_id: str) -> dict[str, Any]:
        """The stored attributes of a unit (``{}`` when none).

        Raises:
            CacheError: Redis failed or the circuit is open (callers fall back to the
                attributes sent with the request).
        """
        key = self._key(unit_type, unit_id)
        raw = await self.call("attributes", lambda: self.client.hgetall(key))
        return {str(name): msgspec.json.decode(value) for name, value in raw.items()}

    async def set_attributes(
        self,
        unit_type: str,
        unit_id: str,
        attributes: Mapping[str, Any],
        *,
        ttl_s: float | None = None,
    ) -> None:
        """Merge attributes of a unit (values must be JSON-serialisable).

        Raises:
            InvalidInput: a value is not JSON-serialisable (its name in the path).
            CacheError: Redis failed or the circuit is open.
        """
        encoded: dict[str, str] = {}
        for name, value in attributes.items():
            try:
                encoded[name] = msgspec.json.encode(value).decode()
            except (TypeError, msgspec.EncodeError) as exc:
                raise InvalidInput(
                    f"must be JSON-serialisable: {exc}", path=f"attributes.{name}"
                ) from exc
        if not encoded:
            return
        key = self._key(unit_type, unit_id)

        async def write() -> None:
            pipe = self.client.pipeline(transaction=False)
            pipe.hset(key, mapping=encoded)  # type: ignore[arg-type]
            if ttl_s is not None:
                pipe.pexpire(key, int(ttl_s * 1000))
            await pipe.execute()

        await self.call("set_attributes", write)
