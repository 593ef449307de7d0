"""Back-pressure on POST /v1/assign: over ABWB_API_MAX_IN_FLIGHT it sheds with 503 + Retry-After.

Two kinds of test. Deterministic: the first request is held inside the handler on an
event (no timing), the second one arrives while it is in flight and is shed; /metrics
counts both. Real concurrency: the app served by uvicorn on a real socket, bursts of
simultaneous requests over many connections are shed (counted), while requests that
never exceed the limit — one connection, or fewer connections than the limit — never
are. Only counts are asserted, never times.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from litestar.testing import TestClient

from abwb.assignment.decision import Decision, Reason
from abwb.errors import InvalidInput
from abwb.serving import InFlightLimit, Serving, UnitRequest, UnitResult
from abwb.settings import ApiSettings, Settings
from abwb.store.memory import MemoryConfigStore, MemoryEventStore
from api import create_app

from ..waiting import wait_for
from .conftest import FAST_EXPOSURES
from .test_prometheus import scrape

NOW = datetime(2026, 6, 1, tzinfo=UTC)


class HeldServing:
    """A real Serving whose ``assign`` waits on an event before deciding."""

    def __init__(self, inner: Serving) -> None:
        self.inner = inner
        self.release = threading.Event()

    async def assign(self, unit: UnitRequest, **kwargs: Any) -> UnitResult:
        await anyio.to_thread.run_sync(self.release.wait)
        return await self.inner.assign(unit, **kwargs)


def test_assign_over_the_limit_is_shed_with_503_and_retry_after(
    make_client: Callable[..., TestClient[Any]],
) -> None:
    client = make_client(max_in_flight=1)
    services = client.app.state.services
    held = HeldServing(services.serving)
    services.serving = held
    first: dict[str, Any] = {}

    def send_first() -> None:
        first["response"] = client.post("/v1/assign", json={"unit_id": "user-1"})

    worker = threading.Thread(target=send_first)
    worker.start()
    try:
        wait_for(lambda: services.in_flight.in_flight == 1)
        shed = client.post("/v1/assign", json={"unit_id": "user-2"})
        assert shed.status_code == 503, shed.text
        assert shed.headers["retry-after"] == "1"
        assert "ABWB_API_MAX_IN_FLIGHT" in shed.text
        metrics = scrape(client)
        assert metrics["abwb_assign_in_flight"][()] == 1
        assert metrics["abwb_assign_shed_total"][()] == 1
        assert metrics["abwb_assign_in_flight_limit"][()] == 1
    finally:
        held.release.set()
        worker.join(timeout=10)
    assert first["response"].status_code == 200, first["response"].text
    after = client.post("/v1/assign", json={"unit_id": "user-3"})
    assert after.status_code == 200, after.text
    metrics = scrape(client)
    assert metrics["abwb_assign_in_flight"][()] == 0
    assert metrics["abwb_assign_admitted_total"][()] == 2
    assert metrics["abwb_assign_shed_total"][()] == 1


class StalledStore(MemoryEventStore):
    """An event store that answers, but takes no exposures until released (a slow store)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def append_exposures(self, rows: Any) -> Any:
        self.release.wait(30)
        return super().append_exposures(rows)


def test_assign_is_shed_while_the_exposure_log_cannot_keep_up(
    make_client: Callable[..., TestClient[Any]],
) -> None:
    # A unit must not be served a variant whose exposure would be dropped: with the
    # store behind and the queue at shed_at of max_queue, assignment sheds instead.
    store = StalledStore()
    exposures = replace(FAST_EXPOSURES, max_queue=40, shed_at=0.5, batch_size=5)
    client = make_client(events=store, exposures=exposures)
    services = client.app.state.services
    try:
        statuses = [
            client.post("/v1/assign", json={"unit_id": f"user-{i}"}).status_code for i in range(60)
        ]
        assert set(statuses) == {200, 503}
        shed = client.post("/v1/assign", json={"unit_id": "user-shed"})
        assert shed.status_code == 503, shed.text
        assert shed.headers["retry-after"] == "1"
        assert "exposure log is behind" in shed.text
        assert services.exposures.counts["dropped_queue_full"] == 0  # shed, not dropped
        metrics = scrape(client)
        assert metrics["abwb_assign_shed_exposures_total"][()] == statuses.count(503) + 1
        assert metrics["abwb_assign_shed_total"][()] >= statuses.count(503) + 1
    finally:
        store.release.set()
    wait_for(lambda: not services.exposures.saturated)
    after = client.post("/v1/assign", json={"unit_id": "user-after"})
    assert after.status_code == 200, after.text


def test_no_shedding_while_the_store_is_down_the_spool_takes_it(tmp_path: Any) -> None:
    from abwb.cache.memory import MemoryAssignmentCache
    from abwb.errors import StorageError
    from abwb.events.exposure_log import ExposureLog
    from abwb.events.spool import ExposureSpool

    class DownStore(MemoryEventStore):
        def append_exposures(self, rows: Any) -> Any:
            raise StorageError("database is down")

    async def run() -> tuple[bool, bool]:
        config = replace(FAST_EXPOSURES, max_queue=10, shed_at=0.5, retries=1)
        log = ExposureLog(
            DownStore(),
            MemoryAssignmentCache(),
            config,
            spool=ExposureSpool(tmp_path / "spool", max_bytes=10**7),
        )
        await log.start()
        offer = [Decision(experiment="e", variant="b", reason=Reason.ASSIGNED)]
        for i in range(8):
            log.offer(offer, unit_id=f"u{i}", unit_type="user", config_version=1, now=NOW)
        saturated_before_flush = log.saturated  # store not known to be down yet
        await wait_for_async(lambda: log.stats()["spooled"] == 8)
        for i in range(8, 16):
            log.offer(offer, unit_id=f"u{i}", unit_type="user", config_version=1, now=NOW)
        saturated_while_down = log.saturated
        await log.stop()
        return saturated_before_flush, saturated_while_down

    before, down = anyio.run(run)
    assert before is True  # 8 of 10 queued, store up as far as the log knows
    assert down is False  # the store is down: the spool takes everything, keep serving


async def wait_for_async(predicate: Callable[[], bool]) -> None:
    with anyio.fail_after(20):
        while not predicate():
            await anyio.sleep(0.01)


def test_zero_means_unlimited() -> None:
    gate = InFlightLimit(0)
    assert all(gate.try_enter() for _ in range(1000))
    assert gate.counters()["shed"] == 0 and gate.counters()["peak"] == 1000


def test_setting_is_read_from_the_environment_and_checked() -> None:
    assert ApiSettings.from_env({"ABWB_API_MAX_IN_FLIGHT": "7"}).max_in_flight == 7
    assert ApiSettings.from_env({}).max_in_flight == 32
    with pytest.raises(InvalidInput, match="ABWB_API_MAX_IN_FLIGHT"):
        ApiSettings.from_env({"ABWB_API_MAX_IN_FLIGHT": "-1"})


LIMIT = 4


@pytest.fixture
def served(config_store: MemoryConfigStore) -> Iterator[str]:
    """The app on uvicorn (a real socket and event loop) with an in-flight limit of 4."""
    app = create_app(
        Settings(),
        config_store=config_store,
        event_store=MemoryEventStore(),
        options=ApiSettings(
            max_in_flight=LIMIT, snapshot_poll_s=0, auth="off", exposures=FAST_EXPOSURES
        ),
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="uvicorn-back-pressure")
    thread.start()
    try:
        wait_for(lambda: server.started)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _request(i: int) -> bytes:
    body = json.dumps({"unit_id": f"burst-{i}", "attributes": {"country": "US"}}).encode()
    head = (
        "POST /v1/assign HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _burst(port: int, connections: int, first: int) -> list[tuple[int, str | None]]:
    """One request on each of ``connections`` connections, all written before any is read."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(connections)]
    try:
        for i, sock in enumerate(socks):
            sock.sendall(_request(first + i))
        answers = []
        for sock in socks:
            response = http.client.HTTPResponse(sock)
            response.begin()
            response.read()
            answers.append((response.status, response.getheader("Retry-After")))
        return answers
    finally:
        for sock in socks:
            sock.close()


def _flight(url: str) -> tuple[float, float]:
    with httpx.Client(base_url=url, timeout=30) as client:
        metrics = scrape(client)  # type: ignore[arg-type]
    return metrics["abwb_assign_admitted_total"][()], metrics["abwb_assign_shed_total"][()]


def test_overload_is_shed_and_counted_on_a_real_socket(served: str) -> None:
    port = int(served.rsplit(":", 1)[1])
    answers: list[tuple[int, str | None]] = []
    sent = 0
    # bursts of 64 simultaneous requests until some are shed (the first one nearly always)
    while not any(status == 503 for status, _ in answers):
        assert sent < 64 * 50, "64-request bursts were never shed"
        answers += _burst(port, 64, sent)
        sent += 64
    statuses = [status for status, _ in answers]
    assert set(statuses) <= {200, 503}
    assert all(retry == "1" for status, retry in answers if status == 503)
    assert statuses.count(200) >= LIMIT  # the limit's worth of every burst is served
    admitted, shed = _flight(served)
    assert (admitted, shed) == (statuses.count(200), statuses.count(503))


def test_light_load_is_never_shed_on_a_real_socket(served: str) -> None:
    with httpx.Client(base_url=served, timeout=30) as one_connection:
        for i in range(200):
            r = one_connection.post("/v1/assign", json={"unit_id": f"one-{i}"})
            assert r.status_code == 200, r.text

    def client_loop(c: int) -> list[int]:
        with httpx.Client(base_url=served, timeout=30) as client:
            return [
                client.post("/v1/assign", json={"unit_id": f"c{c}-{i}"}).status_code
                for i in range(100)
            ]

    # fewer concurrent connections than the limit: never more requests in flight than it
    with ThreadPoolExecutor(LIMIT - 1) as pool:
        statuses = [s for batch in pool.map(client_loop, range(LIMIT - 1)) for s in batch]
    assert statuses == [200] * len(statuses)
    assert _flight(served) == (200 + len(statuses), 0)
