"""Exposure logging off the response path: an in-process queue flushed in batches.

What belongs here: :class:`ExposureLog`. The assignment handler hands it the
decisions it served (:meth:`ExposureLog.offer`, a non-blocking ``put`` of rows built
by the trusted :meth:`~abwb.events.models.Exposure.from_decision` once the unit's
fields passed :func:`~abwb.events.models.check_served_unit`: no per-field
re-validation on the response path); a
background task takes batches from the queue, drops repeats with the cache's
``first_exposures`` (so a unit assigned a million times is logged once per
experiment and phase), and appends the rest to the :class:`~abwb.store.EventStore`
in a worker thread, retrying with backoff. Repeats seen moments ago by this process
are skipped as they are offered (a :class:`~abwb.cache.recent.RecentUnits` memory: per
unit, the experiments and phases logged, so a returning unit costs one lookup); with
the in-process cache that memory is the only one, and no batch calls the cache.

No silent loss. A de-dup mark (in this process and in the cache) stands only for an
exposure that is durable: appended to the store, or written to the on-disk
:class:`~abwb.events.spool.ExposureSpool` when the store stays down after the
retries (then later batches go straight to the spool until a delivery succeeds;
the spool is delivered every ``spool_retry_s``). A store that answers but is slower
than the traffic (the queue holds ``backlog_rows`` or more) gets the same treatment:
batches go to the spool, which takes them as one sequential write each, until the
queue is below the mark again; then the spool is delivered. An exposure that cannot be
kept anywhere (full queue, full spool, no spool) is counted (``dropped_*``) and its
marks are removed, so its next offer is logged again. :meth:`ExposureLog.stop` (SIGTERM)
flushes what is queued, to the store or the spool.

What can still be lost: on ``kill -9`` the exposures held only in memory — queued or
in the batch being written: at most ``max_queue`` + 4 × ``batch_size``; in steady state
about ``flush_interval_s`` worth of traffic plus what the store was slow to take. The
:class:`~abwb.events.crash_ledger.CrashLedger` (beside the spool) counts them as they
enter and leave memory; the next start reports the dead process's count as
``lost_previous_run``, an upper bound of the real loss (too high by at most one flush,
:data:`CATCH_UP_BATCHES` × ``batch_size`` rows: one stored just before the kill).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

import anyio

from abwb.assignment.decision import EXPOSING_REASONS, Decision
from abwb.cache.protocol import AssignmentCache
from abwb.cache.recent import RecentUnits
from abwb.errors import AbwbError, CacheError, InvalidInput
from abwb.events.crash_ledger import CrashLedger
from abwb.events.models import MAX_PHASE, Exposure, check_served_unit
from abwb.events.spool import ExposureSpool
from abwb.settings import ExposureSettings
from abwb.store.protocol import EventStore

__all__ = ["CATCH_UP_BATCHES", "ExposureLog"]

log = logging.getLogger(__name__)
#: Longest single wait of the flusher, so it notices a shutdown promptly.
_TICK_S = 0.05
#: Batches taken at once while two or more are queued, or the store is behind: one
#: store write (or spool file) for all of them, so a write's fixed cost — the commit,
#: the worker thread's wait for the GIL while requests keep the event loop busy — is
#: paid once. Batches of ``batch_size`` alone capped the in-process store at ~100k
#: exposures/s under load: at concurrency 64 the API shed 60,000 requests in 8 s. So one
#: flush writes at most this many × ``batch_size`` rows: the most a kill can leave stored
#: but not yet settled in the crash ledger.
CATCH_UP_BATCHES = 4


class _Rows:
    """The exposure queue: a bounded FIFO the response path fills a request's rows at once.

    One ``extend`` per request instead of an ``asyncio.Queue`` put (and its waiter
    bookkeeping) per row. The flusher waits for as many rows as its batch still lacks
    (:meth:`wait`), so it is woken once per batch, not once per request: each wake-up
    is a trip through the event loop that the requests would pay for.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._rows: deque[Exposure] = deque()
        self._ready = asyncio.Event()
        self._want = 1

    def __len__(self) -> int:
        return len(self._rows)

    def put_many(self, rows: list[Exposure]) -> int:
        """Append as many of ``rows`` as there is room for; how many."""
        room = self.maxsize - len(self._rows)
        fit = rows if len(rows) <= room else rows[: max(room, 0)]
        if fit:
            self._rows.extend(fit)
            if len(self._rows) >= self._want:
                self._ready.set()
        return len(fit)

    def take(self, limit: int) -> list[Exposure]:
        """Up to ``limit`` rows, oldest first, without waiting."""
        rows = self._rows
        return [rows.popleft() for _ in range(min(limit, len(rows)))]

    async def wait(self, want: int, timeout_s: float) -> None:
        """Until ``want`` rows are queued, or at most ``timeout_s``."""
        if len(self._rows) >= want:
            return
        self._want = want
        self._ready.clear()
        try:
            await asyncio.wait_for(self._ready.wait(), timeout_s)
        except TimeoutError:
            pass
        finally:
            self._want = 1


class ExposureLog:
    """Batched, de-duplicated exposure writer running as one background task.

    Args:
        store: Where exposures go.
        cache: De-duplicates exposure keys across requests (and processes, with Redis).
        config: Queue tuning.
        spool: Where batches go while the store is down (``None``: they are dropped,
            counted, and their de-dup marks removed).
        ledger: Crash accounting of what memory holds (default: one in the spool's
            directory; none without a spool).
        sleep: ``asyncio.sleep``-compatible pause between retries (injectable in tests).
    """

    def __init__(
        self,
        store: EventStore,
        cache: AssignmentCache,
        config: ExposureSettings | None = None,
        *,
        spool: ExposureSpool | None = None,
        ledger: CrashLedger | None = None,
        sleep: Callable[[float], object] = asyncio.sleep,
    ) -> None:
        self.config = config or ExposureSettings()
        self._store = store
        self._cache = cache
        self._sleep = sleep
        self._queue: _Rows | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        #: The marks are shared between processes (Redis): each batch is checked against
        #: them (``_fresh``). In-process ones would only repeat ``_recent``.
        self._marks_shared = cache.exposure_marks_shared
        #: Per unit, the exposures offered moments ago (marked as they are offered).
        self._recent = RecentUnits(max(self.config.recent_units, 2))
        self.counts: Counter[str] = Counter()
        self.last_error: str | None = None
        self.spool = spool
        #: The store failed a whole batch: batches go to the spool until it delivers.
        self._store_down = False
        #: The queue reached ``backlog_rows``: batches go to the spool until it is below.
        self._behind = False
        self._next_delivery = 0.0
        if ledger is None and spool is not None:
            ledger = CrashLedger(spool.directory)
        self.ledger = ledger

    @property
    def queued(self) -> int:
        """Exposures waiting in the queue."""
        return len(self._queue) if self._queue is not None else 0

    @property
    def saturated(self) -> bool:
        """Whether new exposures would soon be dropped although the store answers.

        The queue is at ``shed_at`` of ``max_queue``: the store, and the spool behind
        it, take exposures more slowly than they are offered. The API sheds assignment
        requests while this holds. Not during a store outage (``False`` then): the
        spool takes everything, and assignment must keep serving.
        """
        limit = self.config.shed_at * self.config.max_queue
        return bool(limit) and not self._store_down and self.queued >= limit

    def stats(self) -> dict[str, object]:
        """Counters for ``/v1/health`` and ``/v1/metrics``."""
        keys = (
            "offered",
            "written",
            "duplicates",
            "batches",
            "retries",
            "dropped_queue_full",
            "dropped_store_error",
            "dropped_shutdown",
            "dropped_invalid",
            "dropped_spool_full",
            "dedup_degraded",
            "spooled",
            "spooled_backlog",
            "delivered_from_spool",
            "lost_previous_run",
        )
        return {
            "queued": self.queued,
            **{k: self.counts[k] for k in keys},
            "running": self._task is not None and not self._task.done(),
            "last_error": self.last_error,
        }

    async def start(self) -> None:
        """Start the background flusher (idempotent); report a previous run's crash loss."""
        if self._queue is None:
            self._queue = _Rows(self.config.max_queue)
        if self.ledger is not None and not self.ledger.is_open:
            await self._open_ledger(self.ledger)
        self._closing.clear()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="abwb-exposure-flusher")

    async def stop(self, *, timeout_s: float = 30.0) -> None:
        """Write everything queued, then stop the flusher (shutdown).

        Args:
            timeout_s: Longest wait for the final flush; what is left after it is
                counted as dropped.
        """
        self._closing.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout_s)
            except TimeoutError:
                log.error("exposure flush did not finish within %.0f s", timeout_s)
            self._task = None
        left = self.queued
        if left:
            self.counts["dropped_shutdown"] += left
            log.error("%d exposures still queued at shutdown were dropped", left)
            self._settle(len(self._take(left)))
        if self.ledger is not None:
            # a batch cut short by the timeout stays in the ledger: the next start counts it
            self.ledger.close()

    async def _open_ledger(self, ledger: CrashLedger) -> None:
        """Start the crash ledger; report what dead previous runs held in memory."""
        try:
            lost = await anyio.to_thread.run_sync(ledger.open)
        except OSError as exc:
            self.ledger = None
            log.error("exposure crash ledger unavailable (a kill -9 would go uncounted): %s", exc)
            return
        if lost:
            self.counts["lost_previous_run"] += lost
            log.error(
                "a previous run was killed with exposures in memory: at most %d were lost",
                lost,
            )

    def _settle(self, n: int) -> None:
        if self.ledger is not None and n:
            self.ledger.settle(n)

    def offer(
        self,
        decisions: Iterable[Decision],
        *,
        unit_id: str,
        unit_type: str,
        config_version: int,
        now: datetime,
    ) -> int:
        """Queue the exposures among ``decisions`` (those that put the unit in an experiment).

        Never blocks and never raises: when the queue is full the exposures are
        dropped and counted in ``dropped_queue_full``. The unit's fields are checked
        once (:func:`~abwb.events.models.check_served_unit`); then the rows are built by
        the trusted :meth:`Exposure.from_decisions`, except those whose phase is out of range.
        Rows that cannot be stored are logged and counted in ``dropped_invalid``.

        Returns:
            How many exposures were queued.
        """
        queue = self._queue
        if queue is None:
            raise RuntimeError("ExposureLog.offer() before start()")
        exposing = EXPOSING_REASONS
        served = [d for d in decisions if d.variant is not None and d.reason in exposing]
        if not served:
            return 0
        unit = (unit_type, unit_id)
        # Logged moments ago by this process: skip building, queueing and the cache too.
        fresh = self._recent.mark_new(unit, served)
        counts = self.counts
        counts["offered"] += len(served)
        counts["duplicates"] += len(served) - len(fresh)
        if not fresh:
            return 0
        if not self._unit_ok(unit_type, unit_id, config_version, now):
            self._drop_invalid(unit, fresh)
            return 0
        # beyond the stores' 32-bit column (a list, not all(genexpr): ~3x faster)
        outside = [d for d in fresh if not 1 <= d.phase <= MAX_PHASE]
        if outside:
            self._drop_invalid(unit, outside)
            log.error("%d exposures of unit %r skipped: phase out of range", len(outside), unit_id)
            fresh = [d for d in fresh if 1 <= d.phase <= MAX_PHASE]
            if not fresh:
                return 0
        rows = Exposure.from_decisions(
            fresh,
            unit_type=unit_type,
            unit_id=unit_id,
            config_version=config_version,
            exposed_at=now,
        )
        return self._enqueue(queue, rows)

    def _drop_invalid(self, unit: tuple[str, str], decisions: Sequence[Decision]) -> None:
        """Count exposures that cannot be stored, and unmark them (not kept)."""
        self.counts["dropped_invalid"] += len(decisions)
        for d in decisions:
            self._recent.discard(unit, d.experiment, d.phase)

    def _unit_ok(self, unit_type: str, unit_id: str, config_version: int, now: datetime) -> bool:
        """Whether the unit's exposures can be stored (logged when they cannot)."""
        try:
            check_served_unit(unit_type, unit_id, config_version, now)
        except InvalidInput as exc:
            log.error("exposures of unit %r cannot be stored and are skipped: %s", unit_id, exc)
            return False
        return True

    def _enqueue(self, queue: _Rows, rows: list[Exposure]) -> int:
        """Put ``rows`` in the queue; how many fit (the rest are dropped and counted)."""
        # Counted as held before they enter the queue, so before any response
        # acknowledges them: the crash count stays an upper bound.
        if self.ledger is not None:
            self.ledger.hold(len(rows))
        queued = queue.put_many(rows)
        if queued < len(rows):
            for row in rows[queued:]:
                self._count_drop()
                self._unmark(row)  # not kept: log its next offer
            self._settle(len(rows) - queued)
        return queued

    def _count_drop(self) -> None:
        self.counts["dropped_queue_full"] += 1
        dropped = self.counts["dropped_queue_full"]
        if dropped in (1, 10, 100, 1000) or dropped % 10_000 == 0:
            log.error(
                "exposure queue full (%d): %d exposures dropped so far",
                self.config.max_queue,
                dropped,
            )

    def _take(self, limit: int) -> list[Exposure]:
        assert self._queue is not None
        return self._queue.take(limit)

    async def _wait(self, want: int, timeout_s: float) -> None:
        assert self._queue is not None
        await self._queue.wait(want, timeout_s)

    async def _run(self) -> None:
        """Flush batches until asked to close and the queue is empty.

        Waits are short (``_TICK_S``) so a shutdown is noticed promptly without
        cancelling a batch half-way (a cancelled batch could be marked as seen by the
        de-dup cache yet never written).
        """
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        size = self.config.batch_size
        while not (self._closing.is_set() and not self._queue):
            behind = self._store_behind()
            if (
                self.spool is not None
                and loop.time() >= self._next_delivery
                and (self._store_down or not behind)
            ):
                await self._deliver_spool(loop.time())
            catching_up = behind or self.queued >= 2 * size
            batch = self._take(size * CATCH_UP_BATCHES if catching_up else size)
            if not batch:
                await self._wait(1, _TICK_S)
                batch = self._take(size)
                if not batch:
                    continue
            deadline = loop.time() + self.config.flush_interval_s
            while len(batch) < size and not self._closing.is_set():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                await self._wait(size - len(batch), min(remaining, _TICK_S))
                batch.extend(self._take(size - len(batch)))
            await self._flush(batch)
            self._settle(len(batch))  # durable, or dropped and counted: out of memory

    async def _fresh(self, batch: list[Exposure]) -> list[Exposure]:
        """Drop exposures already logged (within the batch, or earlier per the cache).

        The whole batch is checked in one cache call (one Redis pipeline); none with
        the in-process cache: this process's marks were set as the rows were offered.
        """
        if not self._marks_shared:
            # Only this process's marks, set as they were offered (a repeat never queued).
            return batch
        seen: set[str] = set()
        unique: list[Exposure] = []
        for row in batch:
            if row.exposure_id in seen:
                self.counts["duplicates"] += 1
                continue
            seen.add(row.exposure_id)
            unique.append(row)
        if not unique:
            return []
        try:
            firsts = await self._cache.first_exposures(
                [f"exposure:{row.exposure_id}" for row in unique], self.config.dedup_ttl_s
            )
        except CacheError as exc:
            # The store de-duplicates on exposure_id too: write rather than lose it.
            self.counts["dedup_degraded"] += len(unique)
            log.warning("exposure de-dup skipped (cache failed): %s", exc)
            return unique
        fresh = [p for p, first in zip(unique, firsts, strict=True) if first]
        self.counts["duplicates"] += len(unique) - len(fresh)
        return fresh

    async def _flush(self, batch: list[Exposure]) -> None:
        if not batch:
            return
        rows = await self._fresh(batch)
        if not rows:
            return
        if self._behind and not self._store_down and await self._spool_backlog(rows):
            return
        if not self._store_down and await self._append(rows):
            return
        await self._keep(rows)

    def _store_behind(self) -> bool:
        """Whether the store is behind (logged when that changes).

        Behind from ``backlog_rows`` queued exposures until the queue is below half of
        that, so the state does not flap every batch; the spool is delivered only while
        the store is not behind.
        """
        mark = self.config.backlog_rows
        floor = mark // 2 if self._behind else mark
        behind = self.spool is not None and mark > 0 and self.queued >= floor
        if behind != self._behind:
            self._behind = behind
            if behind:
                log.warning(
                    "exposure store behind the traffic (%d queued): batches go to the "
                    "spool until the queue is below %d",
                    self.queued,
                    mark // 2,
                )
            else:
                log.warning("exposure store caught up: the spool is delivered")
        return behind

    async def _spool_backlog(self, rows: list[Exposure]) -> bool:
        """Spool a batch the store is too slow for; whether the spool took it."""
        assert self.spool is not None
        try:
            kept = await anyio.to_thread.run_sync(self.spool.write, rows)
        except AbwbError as exc:
            log.error("exposure spool failed: %s", exc)
            return False
        if kept:
            self.counts["spooled"] += len(rows)
            self.counts["spooled_backlog"] += len(rows)
        return kept

    async def _append(self, rows: list[Exposure]) -> bool:
        """Append with retries; whether the store took the batch."""
        pause = self.config.retry_backoff_s
        for attempt in range(1, self.config.retries + 1):
            try:
                result = await anyio.to_thread.run_sync(self._store.append_exposures, rows)
            except AbwbError as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                if attempt == self.config.retries:
                    log.error("exposure store failed %d times: %s", attempt, exc)
                    return False
                self.counts["retries"] += 1
                await self._sleep(pause)  # type: ignore[misc]
                pause *= 2
                continue
            self.counts["batches"] += 1
            self.counts["written"] += result.accepted
            self.counts["duplicates"] += result.duplicates
            self.last_error = None
            return True
        return False

    async def _keep(self, rows: list[Exposure]) -> None:
        """The store did not take ``rows``: spool them, else drop them and their marks."""
        if self.spool is not None:
            try:
                kept = await anyio.to_thread.run_sync(self.spool.write, rows)
            except AbwbError as exc:
                kept = False
                log.error("exposure spool failed: %s", exc)
            if kept:
                if not self._store_down:
                    log.warning("exposure store down: batches go to the spool until it is back")
                self._store_down = True
                self.counts["spooled"] += len(rows)
                return
            self.counts["dropped_spool_full"] += len(rows)
            log.error("exposure spool full or failing: %d exposures dropped", len(rows))
        else:
            self.counts["dropped_store_error"] += len(rows)
            log.error("dropping %d exposures: the store failed and there is no spool", len(rows))
        await self._forget(rows)

    def _unmark(self, row: Exposure) -> None:
        """Remove this process's de-dup mark of ``row`` (it was not kept)."""
        self._recent.discard((row.unit_type, row.unit_id), row.experiment, row.phase)

    async def _forget(self, rows: Sequence[Exposure]) -> None:
        """Remove the de-dup marks of exposures that were not kept (here and shared)."""
        for row in rows:
            self._unmark(row)
            if not self._marks_shared:
                continue
            try:
                await self._cache.forget_exposure(f"exposure:{row.exposure_id}")
            except CacheError as exc:
                self.counts["dedup_degraded"] += 1
                log.warning("exposure de-dup mark not removed: %s", exc)

    async def _deliver_spool(self, now: float) -> None:
        """Deliver a few spooled batches; on failure try again ``spool_retry_s`` later."""
        assert self.spool is not None
        self._next_delivery = now + self.config.spool_retry_s
        try:
            # One file a turn: the queue is flushed between two files, so delivering
            # a backlog never stalls what is being offered now.
            result = await anyio.to_thread.run_sync(
                lambda: self.spool.deliver(self._store, max_files=1)  # type: ignore[union-attr]
            )
            left = await anyio.to_thread.run_sync(self.spool.size_bytes)
        except AbwbError as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            # counted from the failure: an attempt that waited out a connect timeout
            # must not be followed by another at once (the queue is flushed between)
            self._next_delivery = asyncio.get_running_loop().time() + self.config.spool_retry_s
            return
        delivered = result.accepted + result.duplicates
        self.counts["delivered_from_spool"] += delivered
        self.counts["written"] += result.accepted
        if self._store_down and (delivered or left == 0):
            # The store took a batch: new batches go to it again, the spool drains
            # behind them a file a turn (order does not matter: rows carry their time).
            log.warning("exposure store back: new batches go to it, the spool is delivered")
            self._store_down = False
        if left:
            self._next_delivery = now  # more to deliver: go on at the next turn
