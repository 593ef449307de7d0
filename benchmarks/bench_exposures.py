"""Exposure logging cost per assignment request, in process (no HTTP).

One request of the API benchmark's workload puts a new unit in 20 experiments; this
offers those 20 decisions to an :class:`~abwb.events.exposure_log.ExposureLog` over an
SQLite event store (the embedded default) or the in-process store (what ``abwb serve
--config`` and the API benchmark's single-worker passes use) and the in-process cache,
lets the flusher write them, and prints the process CPU time (its threads included) per
request: ``offer`` alone (on the response path; also for units offered before, which the
process remembers) and the whole pipeline (offer + de-dup + rows + append). The settings
are the API's defaults, but for a queue that holds every row offered and no backlog
spool. ``--profile``
prints the top of a cProfile of the whole pipeline.

Prints figures; asserts nothing.

Run: .venv/bin/python benchmarks/bench_exposures.py [--requests 20000] [--profile]
     (or ./run bench exposures)
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from abwb.assignment.decision import Decision, Reason
from abwb.cache.memory import MemoryAssignmentCache
from abwb.events.exposure_log import ExposureLog
from abwb.settings import ExposureSettings
from abwb.store.memory import MemoryEventStore
from abwb.store.sqlite_events import SqliteEventStore

EXPERIMENTS = 20


def decisions() -> list[Decision]:
    return [
        Decision(experiment=f"exp-{i:02d}", variant="treatment", reason=Reason.ASSIGNED)
        for i in range(EXPERIMENTS)
    ]


async def run(
    requests: int, directory: Path, *, flush: bool, sqlite: bool = True, returning: bool = False
) -> tuple[float, int]:
    """CPU seconds of ``requests`` offers (and, with ``flush``, their writing).

    With ``returning``, the units were all offered once before the clock starts: every
    offer is a repeat the process remembers.
    """
    store = SqliteEventStore(directory / "abwb.db") if sqlite else MemoryEventStore()
    log = ExposureLog(
        store,
        MemoryAssignmentCache(),
        ExposureSettings(max_queue=requests * EXPERIMENTS + 1, backlog_rows=0),
    )
    await log.start()
    served = decisions()
    now = datetime.now(UTC)
    if returning:
        for i in range(requests):
            log.offer(served, unit_id=f"user-{i}", unit_type="user", config_version=1, now=now)
    start = time.process_time()
    for i in range(requests):
        log.offer(served, unit_id=f"user-{i}", unit_type="user", config_version=1, now=now)
        if flush:
            await asyncio.sleep(0)  # the event loop turns between requests, as in the server
    offered = time.process_time()
    await log.stop()
    done = time.process_time()
    written = int(log.stats()["written"])  # type: ignore[call-overload]
    store.close()
    return (done - start) if flush else (offered - start), written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    passes = (
        (False, True, False, "offer only"),
        (False, True, True, "offer only, returning"),
        (True, False, False, "offer + flush, in-process"),
        (True, True, False, "offer + flush to SQLite"),
    )
    for flush, sqlite, returning, name in passes:
        runs = []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                cpu, _ = asyncio.run(
                    run(args.requests, Path(tmp), flush=flush, sqlite=sqlite, returning=returning)
                )
            runs.append(cpu / args.requests * 1e6)
        print(
            f"{name:<26} {statistics.median(runs):7.1f} µs CPU per request "
            f"({EXPERIMENTS} exposures; median of {args.repeat}: "
            + ", ".join(f"{x:.1f}" for x in runs)
            + ")"
        )
    if args.profile:
        with tempfile.TemporaryDirectory() as tmp:
            prof = cProfile.Profile()
            prof.enable()
            asyncio.run(run(args.requests, Path(tmp), flush=True))
            prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
