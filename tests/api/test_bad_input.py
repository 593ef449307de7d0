"""Hostile or broken input gets a 4xx problem: never a 5xx, never a stored object without an answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import TestClient

from abwb.store.memory import MemoryConfigStore, MemoryEventStore

from .conftest import assert_problem

SEGMENT = {"condition": {"attr": "country", "op": "eq", "value": "US"}}


@pytest.mark.parametrize("key", ["seg\n", "seg\r\n", "seg\x00", "Seg", "seg one"])
def test_keys_with_line_breaks_or_odd_characters_are_refused(
    client: TestClient[Any], config_store: MemoryConfigStore, key: str
) -> None:
    r = client.post("/v1/segments", json={"key": key, **SEGMENT})
    assert_problem(r, 422)
    assert config_store.list("segment") == []


def test_invalid_utf8_body_is_400(client: TestClient[Any]) -> None:
    r = client.post(
        "/v1/assign", content=b'{"unit_id": "\xff\xfe"}', headers={"Content-Type": "application/json"}
    )
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_deeply_nested_body_is_4xx(client: TestClient[Any]) -> None:
    depth = 100_000
    body = b'{"unit_id": "u", "attributes": {"a": ' + b"[" * depth + b"]" * depth + b"}}"
    r = client.post("/v1/assign", content=body, headers={"Content-Type": "application/json"})
    assert 400 <= r.status_code < 500, r.text


@pytest.mark.parametrize(
    ("unit_id", "why"), [("u\x00x", "NUL"), ("u" * 400, "bytes"), ("é" * 200, "bytes")]
)
def test_unit_ids_whose_exposure_cannot_be_stored_are_refused(
    make_client: Callable[..., TestClient[Any]],
    event_store: MemoryEventStore,
    unit_id: str,
    why: str,
) -> None:
    client = make_client()
    r = client.post("/v1/assign", json={"unit_id": unit_id})
    body = assert_problem(r, 422, path="unit_id")
    assert why in str(body["errors"])
    r = client.post("/v1/assign/bulk", json={"units": [{"unit_id": "ok"}, {"unit_id": unit_id}]})
    assert_problem(r, 422, path="units[1].unit_id")
    r = client.post("/v1/flags/evaluate", json={"unit_id": unit_id})
    assert_problem(r, 422, path="unit_id")


def test_the_longest_accepted_unit_id_is_stored_as_an_exposure(
    make_client: Callable[..., TestClient[Any]], event_store: MemoryEventStore
) -> None:
    from abwb.serving import MAX_UNIT_ID_BYTES

    client = make_client()
    unit = "u" * MAX_UNIT_ID_BYTES
    assert client.post("/v1/assign", json={"unit_id": unit}).status_code == 200
    services = client.app.state.services
    import time

    deadline = time.monotonic() + 10
    while services.exposures.counts["written"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert services.exposures.counts["dropped_invalid"] == 0
