"""A real ``abwb serve`` keeps assigning quickly through a PostgreSQL outage and a Redis kill.

The server is a separate process on PostgreSQL (its own schema, reached through a TCP
proxy this test owns) and Redis (a ``redis-server`` this test starts). One client sends
``/v1/assign`` requests back to back, each for a new unit (so every request logs
exposures, and the sticky experiment consults Redis), while the test cuts the proxy for
20 s and later kills Redis with ``SIGKILL`` (its pid only). Every request must be
answered 200 and every exposure acknowledged during the outages must be stored once
PostgreSQL is back. Latency per phase is printed (p50, p99, max, requests over 100 ms;
the issue's target is a maximum under 100 ms during the outage, the defect was a 5 s
wait every ~10 s), not asserted.
"""

from __future__ import annotations

import gc
import signal
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from abwb.config import Experiment, Flag, Variant
from abwb.events.models import exposure_id
from abwb.store import PostgresConfigStore, PostgresDatabase

from ..processes import ServeProcess, free_port, start_redis
from ..tcp_proxy import TcpProxy
from ..waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # starts processes, ~75 s

OUTAGE_S = 20.0
SECRET = "svc-secret-1"
IN_EXPERIMENT = {"assigned", "override", "sticky"}


def _seed(url: str, schema: str) -> None:
    db = PostgresDatabase(url, schema=schema)
    store = PostgresConfigStore(db)
    store.create(
        "flag",
        Flag(
            key="f",
            type="bool",
            variations={"on": True, "off": False},
            default_variation="off",
            off_variation="off",
        ),
        actor="test",
    )
    for key, sticky in (("plain", False), ("sticky", True)):
        store.create(
            "experiment",
            Experiment(
                key=key,
                status="running",
                sticky=sticky,
                flag_key="f" if key == "plain" else None,
                variants=[
                    Variant(key="control", weight=0.5, is_control=True),
                    Variant(key="b", weight=0.5),
                ],
            ),
            actor="test",
        )
    db.close()


class Client:
    """Back-to-back ``/v1/assign`` calls, each latency recorded under the current phase."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.phase = "starting"
        self.latencies: dict[str, list[float]] = {}
        self.statuses: dict[str, dict[int, int]] = {}
        self.acked: set[str] = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {SECRET}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=30) as client:
            i = 0
            while not self.stop.is_set():
                i += 1
                phase = self.phase
                started = time.perf_counter()
                r = client.post("/v1/assign", json={"unit_id": f"u{i}"})
                took = time.perf_counter() - started
                self.latencies.setdefault(phase, []).append(took)
                by_status = self.statuses.setdefault(phase, {})
                by_status[r.status_code] = by_status.get(r.status_code, 0) + 1
                if r.status_code == 200:
                    body = r.json()
                    self.acked.update(
                        exposure_id(d["experiment"], d["phase"], body["unit_type"], f"u{i}")
                        for d in body["assignments"]
                        if d["variant"] is not None and d["reason"] in IN_EXPERIMENT
                    )

    def during(self, phase: str, seconds: float) -> None:
        self.phase = phase
        time.sleep(seconds)

    def report(self) -> None:
        print()
        for phase, took in self.latencies.items():
            slowest = max(range(len(took)), key=took.__getitem__)
            ms = sorted(t * 1000 for t in took)
            p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
            print(
                f"{phase:<22} n={len(ms):>6}  statuses={self.statuses[phase]}  "
                f"p50={statistics.median(ms):.2f} ms  p99={p99:.2f} ms  max={ms[-1]:.1f} ms  "
                f"over 100 ms: {sum(t > 100 for t in ms)}  (slowest: request {slowest + 1})"
            )


@pytest.fixture
def setup(
    pg_url: str, tmp_path: Path
) -> Iterator[tuple[ServeProcess, TcpProxy, list[subprocess.Popen[bytes]]]]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    _seed(pg_url, schema)
    proxy, proxied = TcpProxy.in_front_of(pg_url)
    redis_port = free_port()
    redis_procs = [start_redis(redis_port)]
    server = ServeProcess(
        tmp_path,
        {
            "ABWB_DATABASE_URL": proxied,
            "ABWB_DATABASE_SCHEMA": schema,
            "ABWB_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "ABWB_API_KEYS": f"svc:{SECRET}:assign+read",
        },
    )
    yield server, proxy, redis_procs
    server.stop()
    for proc in redis_procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)
    proxy.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_assignment_latency_through_a_postgres_outage_and_a_redis_kill(
    setup: tuple[ServeProcess, TcpProxy, list[subprocess.Popen[bytes]]], pg_url: str
) -> None:
    server, proxy, redis_procs = setup
    server.start()
    client = Client(server.url)
    # The client shares this process with the whole test session's heap: a full
    # collection of it pauses the client thread 100-200 ms, which the latency figures
    # would charge to the server (as the serving process itself does with gc.freeze).
    gc.freeze()
    client.thread.start()
    try:
        # as long as the outage: the control for what this machine's load alone costs
        client.during(f"baseline {OUTAGE_S:.0f} s", OUTAGE_S)
        proxy.cut()
        client.during(f"postgres down {OUTAGE_S:.0f} s", OUTAGE_S)
        proxy.restore()
        client.during("postgres back", 3)
        redis_procs[0].send_signal(signal.SIGKILL)  # our redis-server only
        redis_procs[0].wait(5)
        client.during("redis killed", 5)
        redis_port = int(server.env["ABWB_REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
        redis_procs.append(start_redis(redis_port))
        client.during("redis back", 3)
    finally:
        client.stop.set()
        client.thread.join(60)
        gc.unfreeze()
    client.report()

    for phase, statuses in client.statuses.items():
        assert set(statuses) == {200}, (phase, statuses, server.log())
    # Latency is printed, not asserted (a shared machine's wall clock is no test oracle):
    # the defect was a 5 s stall every ~10 s of outage; the target is a max under 100 ms.

    schema = server.env["ABWB_DATABASE_SCHEMA"]

    def stored() -> set[str]:
        with psycopg.connect(pg_url, autocommit=True) as conn:  # not through the proxy
            rows = conn.execute(f'SELECT exposure_id FROM "{schema}".exposures').fetchall()
        return {r[0] for r in rows}

    wait_for(lambda: client.acked <= stored(), 60, what="every acked exposure to be stored")
    health = httpx.get(
        server.url + "/v1/health", headers={"Authorization": f"Bearer {SECRET}"}, timeout=5
    ).json()
    print(
        f"exposures acked {len(client.acked)}, stored {len(stored())}, "
        f"spooled {health['exposures']['spooled']}, "
        f"delivered from spool {health['exposures']['delivered_from_spool']}"
    )
    assert health["exposures"]["spooled"] > 0  # the outage did send exposures to the spool
