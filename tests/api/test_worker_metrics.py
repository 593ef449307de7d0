"""The workers of one `abwb serve` answer `/metrics` together (api.worker_metrics)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from api.worker_metrics import WorkerMetrics, merge


def families(shed: float, version: float, age: float, queued: float) -> list[Metric]:
    c = CounterMetricFamily("abwb_assign_shed", "Shed.")
    c.add_metric([], shed)
    dropped = CounterMetricFamily("abwb_exposures_dropped", "Dropped.", labels=["reason"])
    dropped.add_metric(["queue_full"], shed * 10)
    v = GaugeMetricFamily("abwb_config_version", "Version.")
    v.add_metric([], version)
    a = GaugeMetricFamily("abwb_config_snapshot_age_seconds", "Age.")
    a.add_metric([], age)
    q = GaugeMetricFamily("abwb_exposures_queued", "Queued.")
    q.add_metric([], queued)
    return [c, dropped, v, a, q]


def values(metrics: list[Metric]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for m in metrics for s in m.samples}


def test_counters_and_gauges_add_up_version_is_the_oldest_age_the_stalest() -> None:
    got = values(merge([families(2, 7, 0.5, 10), families(3, 6, 4.0, 5)]))
    assert got[("abwb_assign_shed_total", ())] == 5
    assert got[("abwb_exposures_dropped_total", (("reason", "queue_full"),))] == 50
    assert got[("abwb_config_version", ())] == 6  # a worker still serves version 6
    assert got[("abwb_config_snapshot_age_seconds", ())] == 4.0
    assert got[("abwb_exposures_queued", ())] == 15


def test_a_worker_reads_live_workers_files_and_skips_dead_and_stale_ones(tmp_path: Path) -> None:
    live = WorkerMetrics(tmp_path)  # this test's process: alive
    live.publish(families(3, 7, 1.0, 0))
    dead_pid = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    WorkerMetrics(tmp_path, pid=int(dead_pid)).publish(families(100, 1, 99, 0))
    reader = WorkerMetrics(tmp_path, pid=os.getpid() + 1_000_000)  # another worker
    merged = values(reader.merged(families(2, 7, 0.5, 0)))
    assert merged[("abwb_assign_shed_total", ())] == 5  # own 2 + live 3, not the dead 100
    assert merged[("abwb_workers", ())] == 2
    old = time.time() - 60
    os.utime(live.path, (old, old))  # not replaced for a minute: that worker hangs
    assert values(reader.merged(families(2, 7, 0.5, 0)))[("abwb_workers", ())] == 1
    live.remove()
    assert not live.path.exists()
