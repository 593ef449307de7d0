"""`abwb serve --workers 2`: two real worker processes share the port and one store.

A config change made through one worker (a flag kill) is served by every worker once
their watchers have seen the new version (waited for with a deadline, never a sleep).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from abwb.cli.supervisor import listening_sockets

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "checkout.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], bool], deadline_s: float = 60.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def children(pid: int) -> list[int]:
    """The worker processes of ``pid`` (not multiprocessing's resource tracker)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return [c for c in found if not _is_tracker(c)]


def _is_tracker(pid: int) -> bool:
    try:
        return b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # already gone
        return False


def answers(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def versions(url: str, n: int) -> set[int]:
    """Config versions served over ``n`` fresh connections (spread over the workers)."""
    seen: set[int] = set()
    for i in range(n):
        with httpx.Client(timeout=5) as c:
            r = c.post(url + "/v1/assign", json={"unit_id": f"u{i}", "log_exposure": False})
            assert r.status_code == 200, r.text
            seen.add(r.json()["config_version"])
    return seen


@contextlib.contextmanager
def serving(home: Path, workers: int = 2, **env_extra: str) -> Iterator[tuple[int, int]]:
    """`abwb serve --workers N` on the example workspace (SQLite in ``home``).

    Yields:
        (port, pid of the parent process) once every worker listens.
    """
    env = {**os.environ, "ABWB_HOME": str(home), **env_extra}
    env.pop("ABWB_DATABASE_URL", None)
    env.pop("ABWB_REDIS_URL", None)
    cli = [sys.executable, "-m", "abwb.cli.main"]
    subprocess.run([*cli, "apply", "--yes", str(EXAMPLES)], env=env, check=True, timeout=120)
    port = free_port()
    proc = subprocess.Popen(
        [*cli, "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: answers(f"http://127.0.0.1:{port}"))
        wait_for(lambda: len(children(proc.pid)) >= workers
                 and listening_sockets(port) == workers)
        yield port, proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


@contextlib.contextmanager
def two_workers(home: Path, **env_extra: str) -> Iterator[str]:
    """`abwb serve --workers 2` on the example workspace (SQLite in ``home``): its URL."""
    with serving(home, 2, **env_extra) as (port, _):
        yield f"http://127.0.0.1:{port}"


def worker_of_each_connection(port: int, workers: list[int]) -> Counter[int]:
    """How many established connections to ``port`` each worker process holds."""
    inodes: dict[str, int] = {}
    for pid in workers:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes[target[8:-1]] = pid
    held: Counter[int] = Counter()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        established = fields[3] == "01"
        if established and int(fields[1].rsplit(":", 1)[1], 16) == port and fields[9] in inodes:
            held[inodes[fields[9]]] += 1
    return held


@pytest.mark.slow
def test_a_burst_of_keep_alive_connections_spreads_over_the_workers(tmp_path: Path) -> None:
    # A client pool opens its connections at once. With one socket shared by the
    # workers, the first worker to wake accepted the whole burst (16 of 16 under wrk).
    with serving(tmp_path) as (port, parent):
        conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
        try:
            for conn in conns:
                conn.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            for conn in conns:
                answer = conn.recv(4096)
                assert answer.startswith(b"HTTP/1.1 200"), answer
            held = worker_of_each_connection(port, children(parent))
            assert sum(held.values()) == 32, held
            # A hash of each connection's ports picks its worker: fewer than 4 of 32 on
            # one of two workers has probability ~2e-6.
            assert len(held) == 2 and min(held.values()) >= 4, held
        finally:
            for conn in conns:
                conn.close()


@pytest.mark.slow
def test_two_workers_answer_and_serve_a_change_made_through_one(tmp_path: Path) -> None:
    with two_workers(tmp_path, ABWB_API_SNAPSHOT_POLL_S="0.2") as url:
        before = versions(url, 20)
        assert len(before) == 1
        r = httpx.post(url + "/v1/flags/single-page-cart/kill", json={"reason": "test"}, timeout=5)
        assert r.status_code == 200, r.text
        wait_for(lambda: versions(url, 20).isdisjoint(before) and len(versions(url, 20)) == 1)


def scrape(url: str) -> dict[str, float]:
    """One ``/metrics`` answer over a fresh connection (so from either worker)."""
    with httpx.Client(timeout=5) as c:
        text = c.get(url + "/metrics").text
    return {
        name: float(value)
        for name, _, value in (line.rpartition(" ") for line in text.splitlines())
        if name and not name.startswith("#")
    }


@pytest.mark.slow
def test_metrics_answer_for_every_worker_whichever_answers(tmp_path: Path) -> None:
    with two_workers(tmp_path, ABWB_API_MAX_IN_FLIGHT="32") as url:
        wait_for(lambda: scrape(url).get("abwb_workers") == 2)
        before = scrape(url)["abwb_assign_admitted_total"]
        sent = 60
        for i in range(sent):  # fresh connections: spread over both workers
            r = httpx.post(url + "/v1/assign", json={"unit_id": f"m{i}"}, timeout=5)
            assert r.status_code == 200, r.text

        def every_scrape_counts_them_all() -> bool:
            scrapes = [scrape(url) for _ in range(8)]
            return all(
                m["abwb_workers"] == 2
                and m["abwb_assign_admitted_total"] - before == sent
                and m["abwb_assign_in_flight_limit"] == 64  # 32 per worker
                for m in scrapes
            )

        wait_for(every_scrape_counts_them_all, 20)


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_the_port_keeps_answering(tmp_path: Path) -> None:
    with serving(tmp_path) as (port, parent):
        first = set(children(parent))
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: victim not in children(parent) and len(children(parent)) == 2
                 and listening_sockets(port) == 2)
        assert versions(url, 10)  # every fresh connection answered


def test_a_worker_that_cannot_start_stops_the_service(tmp_path: Path) -> None:
    # Without the parent's options the app factory fails in each worker: a broken
    # start-up is reported and ends the service, not restarted for ever.
    env = {k: v for k, v in os.environ.items() if k != "ABWB_SERVE_WORKER_ARGS"}
    env["ABWB_HOME"] = str(tmp_path)
    code = ("import sys; from abwb.cli.supervisor import serve_workers; "
            f"sys.exit(serve_workers(2, '127.0.0.1', {free_port()}, {{'log_level': 'critical'}}))")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "before it listened; stopping" in done.stderr


def test_a_port_in_use_is_refused_naming_the_option() -> None:
    from abwb.cli.supervisor import serve_workers
    from abwb.errors import InvalidInput

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(InvalidInput, match="is in use by another program") as caught:
            serve_workers(2, "127.0.0.1", port, {})
    assert caught.value.problems[0].path == "--port"


def test_workers_refuse_an_in_memory_workspace() -> None:
    from abwb.cli.main import build_parser
    from abwb.cli.serve import run
    from abwb.errors import InvalidInput

    with pytest.raises(InvalidInput, match="--workers"):
        run(build_parser().parse_args(["serve", "--demo", "--workers", "2"]))


_FREEZE = """
import gc, json
from abwb.cli.main import build_parser
from abwb.cli.serve import build_app
from abwb.settings import Settings
from api.heap import freeze_startup_heap

app = build_app(build_parser().parse_args(["serve", "--demo"]), Settings.from_env())
frozen = freeze_startup_heap()
class Cycle: pass
garbage = Cycle(); garbage.me = garbage; del garbage
print(json.dumps({"frozen": frozen, "collected": gc.collect(), "tracked": len(gc.get_objects())}))
"""


@pytest.mark.slow
def test_a_serving_process_freezes_its_startup_heap_and_still_collects(tmp_path: Path) -> None:
    env = {**os.environ, "ABWB_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", _FREEZE],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    got = json.loads(out.strip().splitlines()[-1])
    assert got["frozen"] > 50_000  # what start-up built: never traversed by a full collection
    assert got["tracked"] < got["frozen"] / 10  # what a full collection still traverses
    assert got["collected"] >= 1  # garbage made while serving is collected as before
