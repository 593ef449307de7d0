"""Hostile or broken input gets a 4xx problem: never a 5xx, never a stored object without an answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import TestClient

from abwb.assignment.hashing import MAX_UNIT_ID_BYTES
from abwb.store.memory import MemoryConfigStore, MemoryEventStore

from ..waiting import wait_for
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
        "/v1/assign",
        content=b'{"unit_id": "\xff\xfe"}',
        headers={"Content-Type": "application/json"},
    )
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_deeply_nested_body_is_4xx(client: TestClient[Any]) -> None:
    depth = 100_000
    body = b'{"unit_id": "u", "attributes": {"a": ' + b"[" * depth + b"]" * depth + b"}}"
    r = client.post("/v1/assign", content=body, headers={"Content-Type": "application/json"})
    assert 400 <= r.status_code < 500, r.text


@pytest.mark.parametrize(
    ("unit_id", "why"),
    [
        ("u\x00x", "NUL"),
        ("u" * (MAX_UNIT_ID_BYTES + 1), str(MAX_UNIT_ID_BYTES)),  # over maxLength
        ("é" * 129, f"at most {MAX_UNIT_ID_BYTES} bytes"),  # within maxLength, 258 bytes
    ],
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
    assert client.app.state.services.exposures.counts["offered"] == 0


def test_unit_types_over_64_bytes_are_refused(
    make_client: Callable[..., TestClient[Any]],
) -> None:
    client = make_client()
    unit_type = "é" * 33  # 33 characters (within maxLength 64), 66 bytes
    r = client.post("/v1/assign", json={"unit_id": "u", "unit_type": unit_type})
    assert "at most 64 bytes" in str(assert_problem(r, 422, path="unit_type")["errors"])
    r = client.post("/v1/assign/bulk", json={"units": [{"unit_id": "u", "unit_type": unit_type}]})
    assert_problem(r, 422, path="units[0].unit_type")


@pytest.mark.parametrize("unit", ["u" * MAX_UNIT_ID_BYTES, "é" * (MAX_UNIT_ID_BYTES // 2)])
def test_the_longest_accepted_unit_id_is_stored_as_an_exposure(
    make_client: Callable[..., TestClient[Any]], event_store: MemoryEventStore, unit: str
) -> None:
    assert len(unit.encode()) == MAX_UNIT_ID_BYTES
    client = make_client()
    r = client.post("/v1/assign", json={"unit_id": unit, "attributes": {"country": "US"}})
    assert r.status_code == 200, r.text
    served = [a for a in r.json()["assignments"] if a["reason"] in ("assigned", "override")]
    assert served, "the workspace must place the unit in an experiment"
    services = client.app.state.services
    wait_for(lambda: services.exposures.counts["written"] >= len(served), what="exposures")
    stored = event_store.read_exposures()
    assert stored["unit_id"].to_list() == [unit] * len(served)
    assert sorted(stored["experiment"].to_list()) == sorted(a["experiment"] for a in served)
    assert services.exposures.counts["dropped_invalid"] == 0
