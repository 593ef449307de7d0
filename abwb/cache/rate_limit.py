"""Per-key rate limiting shared by every worker process, in Redis.

What belongs here: :class:`RedisRateLimiter`, the Redis adapter behind the API's
per-key limit when ``ABWB_REDIS_URL`` is set, so N uvicorn workers (or replicas)
enforce ONE limit per key instead of N. Redis errors become
:class:`~abwb.errors.CacheError` inside the adapter; :meth:`RedisRateLimiter.acquire`
then fails OPEN (the request is allowed, the failure counted and logged), because
an outage of the cache must not take the assignment API down with it.

Algorithm — a token bucket evaluated atomically by a Lua script (chosen over a fixed
``INCR`` + ``PEXPIRE`` window, which lets twice the limit through around a window
edge and cannot express a burst size). The bucket of a key is one Redis hash
``{prefix}ratelimit:{who}`` with ``tokens`` and ``ts``; the script refills it at
``rate_per_s`` up to ``burst`` using the Redis server's clock (``TIME``, so worker
clocks need not agree), takes one token if it can, and answers the seconds to wait
otherwise. Idle buckets expire once they would be full again.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from abwb.cache.redis import CircuitBreaker, redis_client
from abwb.errors import CacheError, InvalidInput

__all__ = ["TOKEN_BUCKET_LUA", "RedisRateLimiter"]

log = logging.getLogger(__name__)

#: KEYS[1] bucket; ARGV rate_per_s, burst. Returns the wait in seconds (0: allowed) as text.
TOKEN_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return tostring(wait)
"""

#: Seconds between two "failing open" warnings (the counter counts every one).
_LOG_EVERY_S = 10.0


class RedisRateLimiter:
    """A token bucket per client kept in Redis, shared by every process using ``prefix``.

    Args:
        url: ``redis://host:port/db`` (ignored when ``client`` is given).
        rate_per_s: Sustained requests per second per client (``<= 0``: no limit).
        burst: Bucket size (at least 1).
        client: An existing asyncio client.
        prefix: Key prefix (isolates deployments and tests).
        socket_timeout_s: Per-call socket timeout.
        breaker: Circuit breaker (default: open after 5 failures for 5 s).

    Raises:
        InvalidInput: ``burst`` below 1.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        rate_per_s: float,
        burst: float,
        client: aioredis.Redis | None = None,
        prefix: str = "abwb:",
        socket_timeout_s: float = 0.05,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        if burst < 1:
            raise InvalidInput(f"must be at least 1, got {burst}", path="burst")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.prefix = prefix
        self.client = client or redis_client(
            url, socket_timeout_s=socket_timeout_s, connect_timeout_s=socket_timeout_s
        )
        self.breaker = breaker or CircuitBreaker()
        self._script: Any = self.client.register_script(TOKEN_BUCKET_LUA)
        #: ``allowed``, ``limited``, ``failed_open``.
        self.counters: Counter[str] = Counter()
        self._logged_at = -_LOG_EVERY_S

    async def take(self, who: str) -> float:
        """Take one token for ``who`` in Redis.

        Returns:
            0 when allowed, else the seconds until a token is available.

        Raises:
            CacheError: Redis failed or the circuit is open.
        """
        if not self.breaker.allow():
            wait_s = self.breaker.remaining_s()
            raise CacheError(f"Redis circuit open for rate_limit (next try in {wait_s:.1f} s)")
        try:
            raw = await self._script(
                keys=[f"{self.prefix}ratelimit:{who}"], args=[self.rate_per_s, self.burst]
            )
        except (RedisError, OSError) as exc:
            self.breaker.record_failure()
            raise CacheError(f"Redis rate_limit failed: {type(exc).__name__}: {exc}") from exc
        self.breaker.record_success()
        return float(raw)

    async def acquire(self, who: str) -> float:
        """Take one token for ``who``; fail open when Redis is unavailable.

        Returns:
            0 when allowed (or Redis is down), else the seconds to wait.
        """
        if self.rate_per_s <= 0:
            return 0.0
        try:
            wait = await self.take(who)
        except CacheError as exc:
            self.counters["failed_open"] += 1
            now = time.monotonic()
            if now - self._logged_at >= _LOG_EVERY_S:
                self._logged_at = now
                log.warning(
                    "rate limit not enforced (failing open, %d so far): %s",
                    self.counters["failed_open"],
                    exc,
                )
            return 0.0
        self.counters["limited" if wait > 0 else "allowed"] += 1
        return wait

    async def purge(self) -> int:
        """Delete every bucket under ``prefix`` (tests, resets); returns how many.

        Raises:
            CacheError: Redis failed.
        """
        try:
            keys = [k async for k in self.client.scan_iter(match=f"{self.prefix}ratelimit:*")]
            return int(await self.client.delete(*keys)) if keys else 0
        except (RedisError, OSError) as exc:
            raise CacheError(f"Redis purge failed: {exc}") from exc

    async def close(self) -> None:
        """Close the connection pool (errors on a dead connection are ignored)."""
        try:
            await self.client.aclose()
        except (RedisError, OSError):
            self.counters["close_failed"] += 1
