"""One ``/metrics`` for all the worker processes of ``abwb serve --workers N``.

What belongs here: :class:`WorkerMetrics`. Each worker keeps its own counters (its own
exposure log, in-flight gate, key ring...), and a scrape through the shared port
reaches one worker at random: on its own, each would answer its share, and the series
would jump between workers' values. So every worker publishes its metric families
to a directory of the worker group (``<pid>.json``, replaced atomically) once a
second and at each scrape, and the worker that answers a scrape merges its own
families, fresh, with those the other live workers last published (at most about a
second old). A worker that exits takes its file with it (or its file is ignored once
its process is gone or the file is older than ``stale_s``): its counts leave the sums,
which Prometheus reads as a counter reset, as for a restart.

How families merge: counters and gauges are summed per label set (requests in
flight, queued exposures, the in-flight limit of the group), except the gauges in
:data:`MERGE_MIN` (the oldest config version any worker serves) and
:data:`MERGE_MAX` (the stalest snapshot, the highest peak). ``abwb_workers`` says how
many workers the answer covers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import anyio
from litestar import Litestar
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = [
    "MERGE_MAX",
    "MERGE_MIN",
    "STATE_KEY",
    "MergedCollector",
    "WorkerMetrics",
    "merge",
    "share_metrics",
]

#: Gauges whose group value is the smallest worker's (the oldest version served).
MERGE_MIN = frozenset({"abwb_config_version"})
#: Gauges whose group value is the largest worker's.
MERGE_MAX = frozenset({"abwb_config_snapshot_age_seconds", "abwb_assign_in_flight_peak"})

_SUFFIX = ".json"


class WorkerMetrics:
    """The metric families of the workers of one ``abwb serve``, shared through files.

    Args:
        directory: The worker group's directory (created by the parent process).
        stale_s: A file not replaced for this long is ignored (its worker hangs or died
            without removing it).
        pid: This worker's process id.
    """

    def __init__(self, directory: Path, *, stale_s: float = 30.0, pid: int | None = None) -> None:
        self.directory = Path(directory)
        self.stale_s = stale_s
        self.pid = os.getpid() if pid is None else pid

    @property
    def path(self) -> Path:
        """This worker's file."""
        return self.directory / f"{self.pid}{_SUFFIX}"

    def publish(self, families: Iterable[Metric]) -> None:
        """Replace this worker's file with ``families`` (write, then rename)."""
        data = json.dumps([_encode(f) for f in families]).encode()
        tmp = self.directory / f".{self.pid}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, self.path)

    def remove(self) -> None:
        """Delete this worker's file (at shutdown)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def others(self) -> list[list[Metric]]:
        """The families the other live workers published last."""
        now = time.time()
        found = []
        for path in self.directory.glob("*" + _SUFFIX):
            try:
                pid = int(path.stem)
                if pid == self.pid or not _alive(pid):
                    continue
                if now - path.stat().st_mtime > self.stale_s:
                    continue
                found.append([_decode(f) for f in json.loads(path.read_bytes())])
            except (ValueError, OSError, KeyError, TypeError):
                continue  # a file being replaced, or not one of ours: skip it this time
        return found

    def merged(self, own: list[Metric]) -> list[Metric]:
        """``own`` merged with the other live workers' families (see the module doc)."""
        groups = [own, *self.others()]
        out = merge(groups)
        workers = GaugeMetricFamily(
            "abwb_workers", "Worker processes whose counters this answer adds up."
        )
        workers.add_metric([], len(groups))
        return [*out, workers]


class MergedCollector(Collector):
    """A worker's collector whose answer covers every worker of the group.

    Args:
        own: This worker's collector.
        workers: The group's shared families.
    """

    def __init__(self, own: Collector, workers: WorkerMetrics) -> None:
        self._own = own
        self._workers = workers

    def collect(self) -> Iterator[Metric]:
        """This worker's families (published fresh) merged with the others'."""
        own = list(self._own.collect())
        with contextlib.suppress(OSError):
            self._workers.publish(own)
        yield from self._workers.merged(own)


def merge(groups: list[list[Metric]]) -> list[Metric]:
    """Families of several workers merged sample by sample (order of the first seen).

    Examples:
        >>> from prometheus_client.core import CounterMetricFamily
        >>> def worker(n):
        ...     c = CounterMetricFamily("abwb_assign_shed", "Shed.")
        ...     c.add_metric([], n)
        ...     return [c]
        >>> [s.value for f in merge([worker(2), worker(3)]) for s in f.samples]
        [5.0]
    """
    families: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for group in groups:
        for family in group:
            if family.name not in families:
                families[family.name] = Metric(family.name, family.documentation, family.type)
                values[family.name] = {}
            pick = min if family.name in MERGE_MIN else max if family.name in MERGE_MAX else None
            into = values[family.name]
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                value = float(sample.value)
                if key not in into:
                    into[key] = value
                else:
                    into[key] = pick(into[key], value) if pick else into[key] + value
    out = []
    for name, family in families.items():
        for (sample_name, labels), value in values[name].items():
            family.add_sample(sample_name, dict(labels), value)
        out.append(family)
    return out


def _encode(family: Metric) -> dict[str, object]:
    return {
        "name": family.name,
        "doc": family.documentation,
        "type": family.type,
        "samples": [[s.name, s.labels, s.value] for s in family.samples],
    }


def _decode(raw: dict[str, object]) -> Metric:
    family = Metric(str(raw["name"]), str(raw["doc"]), str(raw["type"]))
    for name, labels, value in raw["samples"]:  # type: ignore[attr-defined]
        family.add_sample(str(name), {str(k): str(v) for k, v in labels.items()}, float(value))
    return family


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


#: Where a worker's :class:`WorkerMetrics` lives in the application's state.
STATE_KEY = "worker_metrics"


def share_metrics(app: Litestar, directory: Path, *, interval_s: float = 1.0) -> WorkerMetrics:
    """Make ``app`` (one worker of a group) publish its families and answer for the group.

    Its ``/metrics`` then merges every live worker's families, and from start-up to
    shutdown it publishes its own every ``interval_s`` (in a worker thread: a slow disk
    never holds the event loop); its file is removed at shutdown.

    Args:
        app: The worker's application (its state holds the services).
        directory: The worker group's directory.
        interval_s: Seconds between two publications.

    Returns:
        The worker's shared families.
    """
    from api.routes.prometheus import ServiceCollector

    workers = WorkerMetrics(directory)
    app.state[STATE_KEY] = workers
    collector = ServiceCollector(app.state.services)
    tasks: list[asyncio.Task[None]] = []

    def publish() -> None:
        with contextlib.suppress(OSError):
            workers.publish(list(collector.collect()))

    async def every() -> None:
        while True:
            await anyio.to_thread.run_sync(publish)
            await asyncio.sleep(interval_s)

    async def start() -> None:
        tasks.append(asyncio.create_task(every(), name="abwb-worker-metrics"))

    async def stop() -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        workers.remove()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    return workers
