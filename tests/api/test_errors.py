"""Bad input never yields a 500: every error is RFC 9457 problem+json with field paths."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from .conftest import assert_problem, variants

HUGE = "x" * 600_000

BAD_ASSIGN_BODIES: list[Any] = [
    {},
    {"unit_id": None},
    {"unit_id": 42},
    {"unit_id": ""},
    {"unit_id": "u" * 513},
    {"unit_id": "u", "attributes": []},
    {"unit_id": "u", "attributes": "US"},
    {"unit_id": "u", "experiments": "exp-a"},
    {"unit_id": "u", "experiments": [1, 2]},
    {"unit_id": "u", "log_exposure": "maybe"},
    {"unit_id": "u", "unit_type": ""},
    {"unit_id": "u", "unitId": "u"},
    {"unit_id": "u", "extra": True},
    [],
    [{"unit_id": "u"}],
    "unit",
    17,
    None,
    {"unit_id": HUGE},
    {"unit_id": "u", "attributes": {"k": HUGE[:100_000]}, "experiments": ["x" * 65]},
]


@pytest.mark.parametrize("body", BAD_ASSIGN_BODIES, ids=range(len(BAD_ASSIGN_BODIES)))
def test_bad_assign_bodies_are_4xx_problems(client: TestClient[Any], body: Any) -> None:
    r = client.post("/v1/assign", json=body)
    assert 400 <= r.status_code < 500, r.text
    assert_problem(r, r.status_code)


RAW_BODIES = [
    b"",
    b"{",
    b'{"unit_id": "u",}',
    b'{"unit_id": NaN}',
    b'{"unit_id": "u", "attributes": {"x": NaN}}',
    b'{"unit_id": "u", "attributes": {"x": Infinity}}',
    b"\xff\xfe\x00",
    b'{"unit_id": "\\ud800"}',
    b"null",
    b"unit_id=u",
]


@pytest.mark.parametrize("raw", RAW_BODIES, ids=range(len(RAW_BODIES)))
@pytest.mark.parametrize(
    "route",
    [
        "/v1/assign",
        "/v1/assign/bulk",
        "/v1/experiments",
        "/v1/segments",
        "/v1/events",
        "/v1/validate",
    ],
)
def test_non_json_bodies_are_4xx_problems(client: TestClient[Any], raw: bytes, route: str) -> None:
    r = client.post(route, content=raw, headers={"Content-Type": "application/json"})
    assert 400 <= r.status_code < 500, (route, raw, r.text)
    assert_problem(r, r.status_code)


BAD_EXPERIMENTS: list[tuple[Any, str | None]] = [
    ({"key": "e"}, None),
    ({"key": "e", "variants": "ab"}, "variants"),
    ({"key": "e", "variants": [{"key": "a"}]}, None),
    ({"key": "e", "variants": variants("a", "b"), "traffic_fraction": "lots"}, "traffic_fraction"),
    ({"key": "e", "variants": variants("a", "b"), "phase": 0}, "phase"),
    ({"key": "e", "variants": variants("a", "b"), "schedule": {"start_at": "yesterday"}}, None),
    (
        {
            "key": "e",
            "variants": variants("a", "b"),
            "schedule": {"start_at": "2026-01-01T00:00:00"},
        },
        "schedule.start_at",
    ),
    ({"key": "e", "variants": variants("a", "b"), "overrides": {"u": "zzz"}}, None),
    (
        {
            "key": "e",
            "variants": variants("a", "b"),
            "layer": {"layer": "checkout-layer", "ranges": [[5, 2]]},
        },
        None,
    ),
    ({"key": "e", "variants": variants("a", "b"), "surprise": 1}, None),
    ({"key": "e" * 100, "variants": variants("a", "b")}, "key"),
    ({"key": "e", "variants": variants("a", "b"), "targeting": {"op": "regex"}}, None),
]


@pytest.mark.parametrize(("body", "path"), BAD_EXPERIMENTS, ids=range(len(BAD_EXPERIMENTS)))
def test_bad_experiments_are_422_with_paths(
    client: TestClient[Any], body: Any, path: str | None
) -> None:
    r = client.post("/v1/experiments", json=body)
    problem = assert_problem(r, 422, path=path)
    assert problem["errors"], problem


def test_unknown_fields_are_rejected_by_name(client: TestClient[Any]) -> None:
    body = assert_problem(client.post("/v1/assign", json={"unit_id": "u", "unitid": "u"}), 422)
    assert "unitid" in body["errors"][0]["message"]


def test_body_over_one_megabyte_is_413(client: TestClient[Any]) -> None:
    r = client.post(
        "/v1/assign",
        content=b'{"unit_id": "' + b"u" * 1_100_000 + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert_problem(r, 413)


def test_unknown_route_and_method(client: TestClient[Any]) -> None:
    assert_problem(client.get("/v1/nope"), 404)
    assert_problem(client.put("/v1/assign", json={}), 405)


def test_openapi_schema_is_served_with_examples(client: TestClient[Any]) -> None:
    r = client.get("/schema/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    for path in (
        "/v1/assign",
        "/v1/assign/bulk",
        "/v1/experiments",
        "/v1/experiments/{key}",
        "/v1/experiments/{key}/status",
        "/v1/events",
        "/v1/validate",
        "/v1/audit",
        "/v1/health",
        "/v1/segments",
        "/v1/layers",
        "/v1/holdouts",
        "/v1/metrics",
    ):
        assert path in spec["paths"], path
    assert "user-42" in r.text  # examples are part of the schema
    assert "bearer" in spec["components"]["securitySchemes"]
