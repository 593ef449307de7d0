"""Redis adapters against the real server: sticky assignment, context, fail-fast breaker."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis

from abwb.assignment.engine import Assigner
from abwb.assignment.sticky import StickyAssigner
from abwb.cache import CircuitBreaker, RedisAssignmentCache, RedisContextProvider
from abwb.config import ConfigBundle, Experiment, Variant
from abwb.errors import CacheError, InvalidInput

pytestmark = pytest.mark.integration
NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    value = f"abwbtest:{uuid.uuid4().hex[:12]}:"
    yield value
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{value}*"))
    if keys:
        client.delete(*keys)
    client.close()


def _sticky_bundle(weight: float) -> ConfigBundle:
    exp = Experiment(
        key="sticky-exp",
        status="running",
        sticky=True,
        variants=[
            Variant(key="control", weight=weight, is_control=True),
            Variant(key="treatment", weight=1 - weight),
        ],
    )
    return ConfigBundle(experiments=[exp], version=1)


def test_sticky_units_keep_their_variant_when_weights_change(redis_url: str, prefix: str) -> None:
    async def scenario() -> None:
        cache = RedisAssignmentCache(redis_url, prefix=prefix)
        try:
            before = StickyAssigner(Assigner(_sticky_bundle(0.5)), cache)
            first = {}
            for i in range(300):
                result = await before.assign(f"u{i}", now=NOW)
                first[f"u{i}"] = result.decisions[0].variant
            after = StickyAssigner(Assigner(_sticky_bundle(0.05)), cache)
            for i in range(300):
                result = await after.assign(f"u{i}", now=NOW)
                assert result.decisions[0].variant == first[f"u{i}"]
            fresh = Assigner(_sticky_bundle(0.05))
            moved = sum(
                fresh.decide("sticky-exp", f"u{i}", now=NOW).variant != first[f"u{i}"]
                for i in range(300)
            )
            assert moved > 50  # without stickiness many units would have switched
        finally:
            await cache.close()

    asyncio.run(scenario())


def test_context_provider_round_trips_typed_attributes(redis_url: str, prefix: str) -> None:
    async def scenario() -> None:
        provider = RedisContextProvider(redis_url, prefix=prefix)
        try:
            assert await provider.attributes("user", "u1") == {}
            await provider.set_attributes("user", "u1", {"plan": "pro", "seats": 12, "beta": True})
            await provider.set_attributes("user", "u1", {"country": "FR"})
            assert await provider.attributes("user", "u1") == {
                "plan": "pro",
                "seats": 12,
                "beta": True,
                "country": "FR",
            }
            with pytest.raises(InvalidInput) as info:
                await provider.set_attributes("user", "u1", {"when": object()})
            assert info.value.problems[0].path == "attributes.when"
        finally:
            await provider.close()

    asyncio.run(scenario())


def test_a_dead_redis_fails_fast_then_the_breaker_short_circuits() -> None:
    async def scenario() -> None:
        breaker = CircuitBreaker(failure_threshold=3, cooldown_s=30)
        cache = RedisAssignmentCache("redis://127.0.0.1:1/0", breaker=breaker)
        try:
            for _ in range(3):
                started = time.perf_counter()
                with pytest.raises(CacheError, match="redis get_sticky failed"):
                    await cache.get_sticky("user", "u1")
                assert time.perf_counter() - started < 0.5
            assert breaker.state == "open"
            started = time.perf_counter()
            for _ in range(100):
                with pytest.raises(CacheError, match="circuit open"):
                    await cache.first_exposure("k", 60)
            assert time.perf_counter() - started < 0.05  # no network at all
            assert cache.counters["short_circuited"] == 100
        finally:
            await cache.close()

    asyncio.run(scenario())


def test_purge_removes_only_this_prefix(redis_url: str, prefix: str) -> None:
    other = f"{prefix}other:"

    async def scenario() -> None:
        mine = RedisAssignmentCache(redis_url, prefix=prefix)
        theirs = RedisAssignmentCache(redis_url, prefix=other)
        try:
            await mine.set_sticky("user", "u1", {"a/p1": "b"})
            await theirs.set_sticky("user", "u1", {"a/p1": "c"})
            assert await theirs.purge() == 1
            assert await mine.get_sticky("user", "u1") == {"a/p1": "b"}
        finally:
            await mine.close()
            await theirs.close()

    asyncio.run(scenario())
