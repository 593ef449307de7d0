"""The per-key rate limit shared through Redis: two limiters (two workers) enforce ONE
limit; Redis down → fail open, counted."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from litestar.testing import TestClient

from abwb.access.keys import MemoryApiKeyStore
from abwb.cache.memory import MemoryAssignmentCache
from abwb.cache.rate_limit import RedisRateLimiter
from abwb.errors import CacheError, InvalidInput
from abwb.settings import ApiSettings, CacheSettings, Settings
from abwb.store.memory import MemoryConfigStore, MemoryEventStore
from api import create_app

from .conftest import ASSIGN, TEST_HOST, assert_problem, bearer


def _run[T](coro: Any) -> T:
    return asyncio.run(coro)  # type: ignore[no-any-return]


@pytest.mark.integration
def test_two_workers_share_one_bucket(redis_url: str) -> None:
    prefix = f"abwb-rl-{uuid.uuid4().hex[:8]}:"

    async def scenario() -> tuple[list[float], list[float], int]:
        a = RedisRateLimiter(redis_url, rate_per_s=0.01, burst=5, prefix=prefix,
                             socket_timeout_s=2.0)
        b = RedisRateLimiter(redis_url, rate_per_s=0.01, burst=5, prefix=prefix,
                             socket_timeout_s=2.0)
        try:
            waits = [await (a if i % 2 else b).acquire("key:svc") for i in range(8)]
            other = [await a.acquire("key:other") for _ in range(2)]
            purged = await a.purge()
        finally:
            await a.close()
            await b.close()
        return waits, other, purged

    waits, other, purged = _run(scenario())
    assert waits[:5] == [0.0] * 5  # the burst, split across both workers
    assert all(w > 0 for w in waits[5:])  # then both refuse: one shared limit
    assert 50 < waits[5] <= 100  # ~1 token / 100 s
    assert other == [0.0, 0.0]  # another key has its own bucket
    assert purged == 2


@pytest.mark.integration
def test_concurrent_takes_are_atomic(redis_url: str) -> None:
    prefix = f"abwb-rl-{uuid.uuid4().hex[:8]}:"

    async def scenario() -> list[float]:
        limiters = [
            RedisRateLimiter(redis_url, rate_per_s=0.001, burst=10, prefix=prefix,
                             socket_timeout_s=2.0) for _ in range(4)
        ]
        try:
            return list(await asyncio.gather(*(limiters[i % 4].acquire("k") for i in range(40))))
        finally:
            await limiters[0].purge()
            for limiter in limiters:
                await limiter.close()

    waits = _run(scenario())
    assert sum(w == 0 for w in waits) == 10


def test_redis_down_fails_open_and_counts() -> None:
    async def scenario() -> tuple[list[float], int]:
        limiter = RedisRateLimiter("redis://127.0.0.1:1/0", rate_per_s=0.01, burst=1)
        try:
            with pytest.raises(CacheError):
                await limiter.take("k")
            waits = [await limiter.acquire("k") for _ in range(3)]
        finally:
            await limiter.close()
        return waits, limiter.counters["failed_open"]

    waits, failed_open = _run(scenario())
    assert waits == [0.0, 0.0, 0.0]
    assert failed_open == 3


def test_burst_must_be_at_least_one() -> None:
    with pytest.raises(InvalidInput) as err:
        RedisRateLimiter("redis://127.0.0.1:1/0", rate_per_s=1, burst=0.5)
    assert err.value.problems[0].path == "burst"


@pytest.mark.integration
def test_app_uses_redis_limit_when_redis_is_configured(redis_url: str, bundle: Any) -> None:
    keys = MemoryApiKeyStore()
    keys.add("svc", ASSIGN, ["assign"])
    settings = Settings(cache=CacheSettings(redis_url=redis_url))
    options = ApiSettings(allowed_hosts=(TEST_HOST,), snapshot_poll_s=0, rate_limit_per_s=0.01, rate_burst=3)
    apps = [
        create_app(
            settings,
            config_store=MemoryConfigStore(bundle),
            event_store=MemoryEventStore(),
            cache=MemoryAssignmentCache(),  # only the limiter uses Redis here
            api_keys=keys,
            options=options,
        )
        for _ in range(2)
    ]
    limiter = apps[0].state.services.auth.limiter
    assert isinstance(limiter, RedisRateLimiter)
    prefix = f"abwb-rl-{uuid.uuid4().hex[:8]}:"
    for app in apps:
        app.state.services.auth.limiter.prefix = prefix  # isolate this test's buckets
    with TestClient(apps[0]) as one, TestClient(apps[1]) as two:
        codes = [
            (one if i % 2 else two)
            .post("/v1/assign", json={"unit_id": "u"}, headers=bearer(ASSIGN))
            .status_code
            for i in range(5)
        ]
        assert codes == [200, 200, 200, 429, 429]
        r = one.post("/v1/assign", json={"unit_id": "u"}, headers=bearer(ASSIGN))
        assert_problem(r, 429)
        assert int(r.headers["retry-after"]) >= 1
        assert one.get("/metrics", headers=bearer(ASSIGN)).status_code == 403
        assert one.blocking_portal is not None
        one.blocking_portal.call(limiter.purge)
