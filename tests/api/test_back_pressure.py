"""Back-pressure on POST /v1/assign: over ABWB_API_MAX_IN_FLIGHT it sheds with 503 + Retry-After.

Deterministic: the first request is held inside the handler on an event (no timing), the
second one arrives while it is in flight and is shed; /metrics counts both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from litestar.testing import TestClient

from abwb.errors import InvalidInput
from abwb.serving import InFlightLimit, Serving, UnitRequest, UnitResult
from abwb.settings import ApiSettings

from ..waiting import wait_for
from .test_prometheus import scrape


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


def test_zero_means_unlimited() -> None:
    gate = InFlightLimit(0)
    assert all(gate.try_enter() for _ in range(1000))
    assert gate.counters()["shed"] == 0 and gate.counters()["peak"] == 1000


def test_setting_is_read_from_the_environment_and_checked() -> None:
    assert ApiSettings.from_env({"ABWB_API_MAX_IN_FLIGHT": "7"}).max_in_flight == 7
    assert ApiSettings.from_env({}).max_in_flight == 32
    with pytest.raises(InvalidInput, match="ABWB_API_MAX_IN_FLIGHT"):
        ApiSettings.from_env({"ABWB_API_MAX_IN_FLIGHT": "-1"})
