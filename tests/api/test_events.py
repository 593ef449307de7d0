"""POST /v1/events: durable acknowledgement, idempotency, whole-batch validation, 503."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from litestar.testing import TestClient

from abwb.errors import StorageError
from abwb.events import AppendResult, Event, Exposure
from abwb.store.memory import MemoryEventStore

from .conftest import assert_problem


def event(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"ev-{i}",
        "unit_id": f"u-{i % 7}",
        "name": "purchase",
        "occurred_at": "2026-06-01T10:00:00Z",
        "value": 9.5,
        **extra,
    }


def exposure(i: int) -> dict[str, Any]:
    return {
        "experiment": "exp-a",
        "variant": "control",
        "unit_id": f"u-{i}",
        "exposed_at": "2026-06-01T09:00:00+00:00",
    }


def test_ingest_is_acknowledged_after_append_and_idempotent(
    client: TestClient[Any], event_store: MemoryEventStore
) -> None:
    body = {
        "events": [event(i, properties={"sku": "A1"}) for i in range(10)],
        "exposures": [exposure(i) for i in range(3)],
    }
    r = client.post("/v1/events", json=body)
    assert r.status_code == 202, r.text
    assert r.json() == {
        "exposures_accepted": 3,
        "exposures_duplicates": 0,
        "events_accepted": 10,
        "events_duplicates": 0,
    }
    frame = event_store.read_events()
    assert len(frame) == 10
    assert frame["properties"][0] == '{"sku":"A1"}'
    assert event_store.read_exposures()["exposure_id"].to_list()[0] == "exp-a/p1/user/u-0"
    again = client.post("/v1/events", json=body).json()
    assert again["events_accepted"] == 0 and again["events_duplicates"] == 10
    assert again["exposures_duplicates"] == 3


def test_one_bad_row_rejects_the_whole_batch(
    client: TestClient[Any], event_store: MemoryEventStore
) -> None:
    body = {
        "events": [event(0), event(1, occurred_at="2026-06-01T10:00:00"), event(2, event_id="")],
        "exposures": [exposure(0) | {"phase": 0}],
    }
    problem = assert_problem(client.post("/v1/events", json=body), 422)
    paths = {e["path"] for e in problem["errors"]}
    assert paths == {"events[1].occurred_at", "events[2].event_id", "exposures[0].phase"}
    assert len(event_store.read_events()) == 0 and len(event_store.read_exposures()) == 0


def test_batch_limits(client: TestClient[Any], event_store: MemoryEventStore) -> None:
    rows = [
        event(i, properties={"page": "/checkout/confirm", "sku": f"SKU-{i:08d}"})
        for i in range(10_000)
    ]
    body = {"events": rows}
    import json

    assert len(json.dumps(body)) > 1_000_000  # a full batch is above the 1 MB default limit
    ok = client.post("/v1/events", json=body)
    assert ok.status_code == 202, ok.text
    assert ok.json()["events_accepted"] == 10_000
    over = client.post(
        "/v1/events", json={"events": rows[:6000], "exposures": [exposure(i) for i in range(4001)]}
    )
    assert_problem(over, 422)
    assert_problem(client.post("/v1/events", json={"events": rows + rows[:1]}), 422, path="events")


class DownEventStore(MemoryEventStore):
    """An event store whose database is unreachable."""

    def append_events(self, rows: Sequence[Event]) -> AppendResult:
        raise StorageError("connection refused")

    def append_exposures(self, rows: Sequence[Exposure]) -> AppendResult:
        raise StorageError("connection refused")


def test_store_down_is_503_and_nothing_acknowledged(
    make_client: Callable[..., TestClient[Any]],
) -> None:
    client = make_client(events=DownEventStore())
    problem = assert_problem(client.post("/v1/events", json={"events": [event(1)]}), 503)
    assert "retry" in problem["detail"]
    # assignment keeps answering from the snapshot
    assert client.post("/v1/assign", json={"unit_id": "u"}).status_code == 200
