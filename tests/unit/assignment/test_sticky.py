"""Sticky bucketing through the cache port, and its failure behaviour."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from abwb.assignment import Assigner, Reason, StickyAssigner, reweight
from abwb.assignment.sticky import degradations
from abwb.cache import AssignmentCache, MemoryAssignmentCache
from abwb.config import ConfigBundle, Experiment, Variant
from abwb.errors import CacheError

NOW = datetime(2026, 1, 1, tzinfo=UTC)
EXP = Experiment(
    key="s", status="running", sticky=True,
    variants=[Variant(key="control", weight=0.5, is_control=True), Variant(key="b", weight=0.5)],
)


class BrokenCache:
    """A cache whose backend is down: every call fails as an adapter would report it."""

    exposure_marks_shared = True

    async def get_sticky(self, unit_type: str, unit_id: str) -> dict[str, str]:
        raise CacheError("connection refused")

    async def set_sticky(self, unit_type: str, unit_id: str, assignments: Mapping[str, str]) -> None:
        raise CacheError("connection refused")

    async def first_exposure(self, key: str, ttl_s: float) -> bool:
        raise CacheError("connection refused")

    async def first_exposures(self, keys: Sequence[str], ttl_s: float) -> list[bool]:
        raise CacheError("connection refused")

    async def close(self) -> None:
        return None


def test_sticky_assignment_survives_reweighting_through_the_cache() -> None:
    async def scenario() -> None:
        cache = MemoryAssignmentCache()
        first = StickyAssigner(Assigner(ConfigBundle(experiments=[EXP])), cache)
        before = {u: (await first.assign(u, now=NOW)).variant("s") for u in map(str, range(300))}
        shifted = reweight(EXP, {"control": 0.05, "b": 0.95}).experiment
        second = StickyAssigner(Assigner(ConfigBundle(experiments=[shifted])), cache)
        for unit, variant in before.items():
            d = (await second.assign(unit, now=NOW)).decision("s")
            assert d is not None
            assert (d.variant, d.reason) == (variant, Reason.STICKY)
        # A unit never seen before gets the new weights' answer.
        fresh = await second.assign("never-seen", now=NOW)
        assert fresh.decision("s").reason is Reason.ASSIGNED  # type: ignore[union-attr]

    asyncio.run(scenario())


def test_cache_down_serves_the_deterministic_answer_and_counts_it() -> None:
    async def scenario() -> None:
        broken: AssignmentCache = BrokenCache()
        assigner = Assigner(ConfigBundle(experiments=[EXP]))
        before = degradations["sticky_lookup_skipped"]
        result = await StickyAssigner(assigner, broken).assign("u1", now=NOW)
        assert result.variant("s") == assigner.decide("s", "u1", now=NOW).variant
        assert degradations["sticky_lookup_skipped"] == before + 1

    asyncio.run(scenario())


def test_memory_cache_dedups_exposures_with_ttl_and_bounds_memory() -> None:
    clock = [0.0]
    cache = MemoryAssignmentCache(max_units=2, max_exposures=2, clock=lambda: clock[0])

    async def scenario() -> None:
        assert await cache.first_exposure("e/u1", 10)
        assert not await cache.first_exposure("e/u1", 10)
        clock[0] = 11
        assert await cache.first_exposure("e/u1", 10)
        for u in ("a", "b", "c"):
            await cache.set_sticky("user", u, {"s/p1": "b"})
        assert await cache.get_sticky("user", "a") == {}
        assert await cache.get_sticky("user", "c") == {"s/p1": "b"}
        assert isinstance(cache, AssignmentCache)

    asyncio.run(scenario())
