"""Segments, layers, holdouts, metrics, flags and rollouts share one CRUD contract."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from .conftest import assert_problem

OBJECTS: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    # plural, valid body, a valid patch, an invalid patch
    (
        "segments",
        {"key": "pro-users", "condition": {"attr": "plan", "op": "eq", "value": "pro"}},
        {"name": "Pro users"},
        {"condition": {"attr": "plan", "op": "bogus"}},
    ),
    ("layers", {"key": "search-layer"}, {"description": "search surface"}, {"unit_type": 5}),
    (
        "holdouts",
        {"key": "h-2026", "traffic_fraction": 0.05},
        {"traffic_fraction": 0.1},
        {"traffic_fraction": 7},
    ),
    (
        "metrics",
        {"key": "revenue", "kind": "sum", "event": "purchase", "value_column": "value"},
        {"direction": "decrease"},
        {"kind": "ratio"},
    ),
    (
        "flags",
        {
            "key": "dark-mode",
            "type": "bool",
            "variations": {"on": True, "off": False},
            "default_variation": "off",
            "off_variation": "off",
        },
        {"default_variation": "on"},
        {"default_variation": "blue"},
    ),
    (
        "rollouts",
        {
            "key": "nc-rollout",
            "flag_key": "new-checkout",
            "variation": "on",
            "steps": [{"traffic_fraction": 0.1}, {"traffic_fraction": 1.0}],
        },
        {"auto_rollback": True},
        {"variation": "purple"},
    ),
]


@pytest.mark.parametrize(("plural", "body", "good", "bad"), OBJECTS, ids=[o[0] for o in OBJECTS])
def test_crud_contract(
    client: TestClient[Any],
    plural: str,
    body: dict[str, Any],
    good: dict[str, Any],
    bad: dict[str, Any],
) -> None:
    key = body["key"]
    created = client.post(f"/v1/{plural}", json=body)
    assert created.status_code == 201, created.text
    assert created.headers["etag"] == '"v1"'
    assert_problem(client.post(f"/v1/{plural}", json=body), 409)
    listed = client.get(f"/v1/{plural}").json()
    assert key in [o["key"] for o in listed["items"]]
    etag = client.get(f"/v1/{plural}/{key}").headers["etag"]
    assert_problem(client.patch(f"/v1/{plural}/{key}", json=bad, headers={"If-Match": etag}), 422)
    patched = client.patch(f"/v1/{plural}/{key}", json=good, headers={"If-Match": etag})
    assert patched.status_code == 200, patched.text
    for name, value in good.items():
        assert patched.json()[name] == value
    assert_problem(client.patch(f"/v1/{plural}/{key}", json=good, headers={"If-Match": etag}), 412)
    assert_problem(client.delete(f"/v1/{plural}/{key}", headers={"If-Match": etag}), 412)
    assert (
        client.delete(
            f"/v1/{plural}/{key}", headers={"If-Match": patched.headers["etag"]}
        ).status_code
        == 204
    )
    assert_problem(client.get(f"/v1/{plural}/{key}"), 404)
    actions = [e["action"] for e in client.get("/v1/audit", params={"key": key}).json()["items"]]
    assert actions == ["delete", "update", "create"]


@pytest.mark.parametrize(
    ("path", "referrer"),
    [("/v1/metrics/buy", "exp-a"), ("/v1/flags/new-checkout", "exp-checkout")],
)
def test_deleting_a_referenced_object_is_409(
    client: TestClient[Any], path: str, referrer: str
) -> None:
    body = assert_problem(client.delete(path), 409)
    assert any(referrer in e["message"] or "experiments" in e["message"] for e in body["errors"])
    assert client.get(path).status_code == 200


def test_segment_reference_is_checked(client: TestClient[Any]) -> None:
    problem = assert_problem(
        client.put("/v1/experiments/exp-free/targeting", json={"targeting": {"segment": "ghost"}}),
        422,
    )
    assert problem["errors"][0]["path"].startswith("targeting")
    client.post(
        "/v1/segments",
        json={"key": "ghost", "condition": {"attr": "plan", "op": "eq", "value": "pro"}},
    )
    ok = client.put("/v1/experiments/exp-free/targeting", json={"targeting": {"segment": "ghost"}})
    assert ok.status_code == 200, ok.text


def test_validate_dry_runs(client: TestClient[Any]) -> None:
    good = client.post("/v1/validate", json={"kind": "layer", "object": {"key": "fresh"}})
    assert good.status_code == 200 and good.json() == {"valid": True, "errors": []}
    bad = client.post(
        "/v1/validate",
        json={
            "kind": "experiment",
            "object": {
                "key": "x",
                "variants": [
                    {"key": "a", "weight": 1, "is_control": True},
                    {"key": "b", "weight": 0},
                ],
                "holdout": "nope",
            },
        },
    ).json()
    assert bad["valid"] is False
    assert [e["path"] for e in bad["errors"]] == ["holdout"]
    bundle = client.post(
        "/v1/validate",
        json={
            "bundle": {
                "experiments": [{"key": "e", "variants": [{"key": "a", "weight": 0.5}]}],
                "widgets": [],
            }
        },
    ).json()
    assert bundle["valid"] is False
    paths = {e["path"] for e in bundle["errors"]}
    assert "widgets" in paths
    assert any(p.startswith("experiments[0]") for p in paths)
    assert_problem(client.post("/v1/validate", json={}), 422)
    assert_problem(client.post("/v1/validate", json={"object": {"key": "k"}}), 422, path="kind")
    assert client.get("/v1/layers/fresh").status_code == 404  # nothing written
