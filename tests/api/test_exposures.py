"""ExposureLog: de-duplicated, batched, drops counted, flushed on shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from abwb.assignment.decision import Decision, Reason
from abwb.cache.memory import MemoryAssignmentCache
from abwb.errors import CacheError, StorageError
from abwb.events import AppendResult, Exposure
from abwb.events.exposure_log import ExposureLog
from abwb.settings import ExposureSettings
from abwb.store.memory import MemoryEventStore

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def decisions(*experiments: str, reason: Reason = Reason.ASSIGNED) -> list[Decision]:
    return [Decision(experiment=e, variant="control", reason=reason) for e in experiments]


def offer(
    logger: ExposureLog, unit: str, *experiments: str, reason: Reason = Reason.ASSIGNED
) -> int:
    return logger.offer(
        decisions(*experiments, reason=reason),
        unit_id=unit,
        unit_type="user",
        config_version=3,
        now=NOW,
    )


class CountingStore(MemoryEventStore):
    def __init__(self, failures: int = 0) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.failures = failures

    def append_exposures(self, rows: Sequence[Exposure]) -> AppendResult:
        if self.failures:
            self.failures -= 1
            raise StorageError("database is down")
        self.batches.append(len(rows))
        return super().append_exposures(rows)


class BrokenCache(MemoryAssignmentCache):
    """Redis down: every exposure-mark call fails as the adapter reports it."""

    exposure_marks_shared = True  # a shared cache: the log calls it for every batch

    async def first_exposure(self, key: str, ttl_s: float) -> bool:
        raise CacheError("redis is down")

    async def first_exposures(self, keys: Sequence[str], ttl_s: float) -> list[bool]:
        raise CacheError("redis is down")


CONFIG = ExposureSettings(
    batch_size=100, flush_interval_s=0.02, retries=3, retry_backoff_s=0.001
)


async def no_sleep(_: float) -> None:
    return None


def test_only_exposures_that_put_the_unit_in_an_experiment_are_logged() -> None:
    async def run() -> None:
        logger = ExposureLog(CountingStore(), MemoryAssignmentCache(), CONFIG)
        await logger.start()
        assert offer(logger, "u", "a", "b") == 2
        assert offer(logger, "u", "c", reason=Reason.TARGETING_MISS) == 0
        assert offer(logger, "u", "d", reason=Reason.OVERRIDE) == 1
        await logger.stop()

    asyncio.run(run())


def test_deduplicated_and_batched() -> None:
    store = CountingStore()

    async def run() -> ExposureLog:
        logger = ExposureLog(store, MemoryAssignmentCache(), CONFIG)
        await logger.start()
        for i in range(250):
            offer(logger, f"u-{i}", "exp")
            offer(logger, f"u-{i}", "exp")  # same request twice
        await asyncio.sleep(0.1)
        for i in range(250):
            offer(logger, f"u-{i}", "exp")  # later requests: the cache remembers
        for i in range(250, 400):
            offer(logger, f"u-{i}", "exp")  # one request at a time: batches of batch_size
            await asyncio.sleep(0)
        await logger.stop()
        return logger

    logger = asyncio.run(run())
    frame = store.read_exposures()
    assert len(frame) == 400
    assert frame["config_version"].unique().to_list() == [3]
    # 250 queued at once (2+ batches of 100): one catch-up append of up to 4 batches
    assert store.batches[0] == 250
    assert max(store.batches[1:]) <= 100 and len(store.batches) >= 3
    assert logger.counts["written"] == 400
    assert logger.counts["duplicates"] == 500


def test_queue_full_drops_are_counted() -> None:
    store = CountingStore()

    async def run() -> ExposureLog:
        logger = ExposureLog(
            store,
            MemoryAssignmentCache(),
            ExposureSettings(max_queue=10, flush_interval_s=0.01),
        )
        await logger.start()
        queued = sum(offer(logger, f"u-{i}", "exp") for i in range(25))  # no await: no flush
        assert queued == 10
        await logger.stop()
        return logger

    logger = asyncio.run(run())
    assert logger.stats()["dropped_queue_full"] == 15
    assert logger.stats()["written"] == 10
    assert len(store.read_exposures()) == 10


def test_store_outage_retries_then_counts_drops() -> None:
    flaky = CountingStore(failures=2)
    down = CountingStore(failures=10**6)

    async def run(store: CountingStore) -> ExposureLog:
        logger = ExposureLog(store, MemoryAssignmentCache(), CONFIG, sleep=no_sleep)
        await logger.start()
        for i in range(5):
            offer(logger, f"u-{i}", "exp")
        await logger.stop()
        return logger

    recovered = asyncio.run(run(flaky))
    assert recovered.counts["written"] == 5 and recovered.counts["retries"] == 2
    assert recovered.counts["dropped_store_error"] == 0
    lost = asyncio.run(run(down))
    assert lost.counts["dropped_store_error"] == 5
    assert "database is down" in str(lost.stats()["last_error"])


def test_cache_outage_still_writes_store_dedups() -> None:
    store = CountingStore()

    async def run() -> list[ExposureLog]:
        # two processes sharing one store, both with Redis down
        loggers = [ExposureLog(store, BrokenCache(), CONFIG) for _ in range(2)]
        for logger in loggers:
            await logger.start()
            offer(logger, "u", "exp")
        for logger in loggers:
            await logger.stop()
        return loggers

    loggers = asyncio.run(run())
    assert len(store.read_exposures()) == 1
    assert [lg.counts["dedup_degraded"] for lg in loggers] == [1, 1]
    assert sum(lg.counts["written"] for lg in loggers) == 1


class SharedCache(MemoryAssignmentCache):
    """Marks shared by the logs using it, as Redis shares them between processes."""

    exposure_marks_shared = True


def test_other_processes_exposures_are_deduplicated_through_the_cache() -> None:
    store = CountingStore()
    shared = SharedCache()

    async def run() -> list[ExposureLog]:
        loggers = [ExposureLog(store, shared, CONFIG) for _ in range(2)]
        for logger in loggers:
            await logger.start()
            offer(logger, "u", "exp")
            await asyncio.sleep(0.05)
        for logger in loggers:
            await logger.stop()
        return loggers

    loggers = asyncio.run(run())
    assert len(store.batches) == 1
    assert [lg.counts["written"] for lg in loggers] == [1, 0]
    assert loggers[1].counts["duplicates"] == 1


def test_flushed_on_shutdown() -> None:
    store = CountingStore()

    async def run() -> None:
        logger = ExposureLog(
            store,
            MemoryAssignmentCache(),
            ExposureSettings(flush_interval_s=60, batch_size=10_000),
        )
        await logger.start()
        for i in range(40):
            offer(logger, f"u-{i}", "exp")
        await asyncio.sleep(0.02)  # the flusher is waiting for the batch to fill
        assert len(store.read_exposures()) == 0
        await logger.stop()

    asyncio.run(run())
    assert len(store.read_exposures()) == 40


def test_offer_before_start_is_a_programming_error() -> None:
    logger = ExposureLog(CountingStore(), MemoryAssignmentCache())
    with pytest.raises(RuntimeError):
        offer(logger, "u", "exp")
