"""AssignmentCache contract: memory and Redis behave the same."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from abwb.cache import AssignmentCache


def test_sticky_assignments_merge_per_unit(make_cache: Callable[[], AssignmentCache]) -> None:
    async def scenario() -> None:
        cache = make_cache()
        try:
            assert isinstance(cache, AssignmentCache)
            assert await cache.get_sticky("user", "u1") == {}
            await cache.set_sticky("user", "u1", {"checkout/p1": "treatment"})
            await cache.set_sticky("user", "u1", {"pricing/p2": "control"})
            await cache.set_sticky("device", "u1", {"checkout/p1": "control"})
            assert await cache.get_sticky("user", "u1") == {
                "checkout/p1": "treatment",
                "pricing/p2": "control",
            }
            await cache.set_sticky("user", "u1", {"checkout/p1": "control"})
            assert (await cache.get_sticky("user", "u1"))["checkout/p1"] == "control"
            assert await cache.get_sticky("device", "u1") == {"checkout/p1": "control"}
            assert await cache.get_sticky("user", "ユーザー:2") == {}
        finally:
            await cache.close()

    asyncio.run(scenario())


def test_first_exposure_is_true_once_within_ttl(make_cache: Callable[[], AssignmentCache]) -> None:
    async def scenario() -> None:
        cache = make_cache()
        try:
            assert await cache.first_exposure("checkout/p1/user/u1", 60) is True
            assert await cache.first_exposure("checkout/p1/user/u1", 60) is False
            assert await cache.first_exposure("checkout/p1/user/u2", 60) is True
            assert await cache.first_exposure("short", 0.05) is True
            await asyncio.sleep(0.12)
            assert await cache.first_exposure("short", 0.05) is True
        finally:
            await cache.close()

    asyncio.run(scenario())


def test_a_forgotten_exposure_is_first_again(make_cache: Callable[[], AssignmentCache]) -> None:
    async def scenario() -> None:
        cache = make_cache()
        try:
            assert await cache.first_exposure("checkout/p1/user/f1", 60) is True
            await cache.forget_exposure("checkout/p1/user/f1")
            assert await cache.first_exposure("checkout/p1/user/f1", 60) is True
            assert await cache.first_exposure("checkout/p1/user/f1", 60) is False
            await cache.forget_exposure("never-seen")  # no error
        finally:
            await cache.close()

    asyncio.run(scenario())


def test_concurrent_first_exposures_admit_exactly_one(
    make_cache: Callable[[], AssignmentCache],
) -> None:
    async def scenario() -> None:
        cache = make_cache()
        try:
            results = await asyncio.gather(*(cache.first_exposure("race", 60) for _ in range(20)))
            assert sum(results) == 1
        finally:
            await cache.close()

    asyncio.run(scenario())


def test_first_exposures_batch_answers_like_one_call_per_key(
    make_cache: Callable[[], AssignmentCache],
) -> None:
    async def scenario() -> None:
        cache = make_cache()
        try:
            assert await cache.first_exposures([], 60) == []
            assert await cache.first_exposure("batch/p1/user/seen", 60) is True
            keys = ["batch/p1/user/a", "batch/p1/user/seen", "batch/p1/user/b", "batch/p1/user/a"]
            assert await cache.first_exposures(keys, 60) == [True, False, True, False]
            assert await cache.first_exposures(keys[:3], 60) == [False, False, False]
            assert await cache.first_exposure("batch/p1/user/b", 60) is False
            await cache.forget_exposure("batch/p1/user/a")
            assert await cache.first_exposures(["batch/p1/user/a"], 60) == [True]
        finally:
            await cache.close()

    asyncio.run(scenario())
