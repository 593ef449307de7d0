"""Flag evaluation, the kill switch, rollout actions and OpenFeature's OFREP endpoints."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from .conftest import assert_problem

SPLIT_FLAG = {
    "key": "banner",
    "type": "string",
    "variations": {"blue": "blue", "red": "red"},
    "default_variation": "blue",
    "off_variation": "blue",
    "rules": [
        {"split": [{"variation": "blue", "weight": 0.5}, {"variation": "red", "weight": 0.5}]}
    ],
}


@pytest.fixture
def with_split(client: TestClient[Any]) -> TestClient[Any]:
    assert client.post("/v1/flags", json=SPLIT_FLAG).status_code == 201
    return client


def test_evaluate_all_and_named(with_split: TestClient[Any]) -> None:
    body = with_split.post("/v1/flags/evaluate", json={"unit_id": "u-1"}).json()
    assert set(body["flags"]) == {"new-checkout", "banner"}
    banner = body["flags"]["banner"]
    assert banner["reason"] == "SPLIT" and banner["value"] in ("blue", "red")
    named = with_split.post(
        "/v1/flags/evaluate", json={"unit_id": "u-1", "flags": ["banner", "ghost"]}
    ).json()
    assert named["flags"]["banner"] == banner
    assert named["flags"]["ghost"]["error_code"] == "FLAG_NOT_FOUND"


def test_kill_switch_turns_flag_and_its_experiment_off(client: TestClient[Any]) -> None:
    r = client.post("/v1/flags/new-checkout/kill", json={"reason": "incident 42"})
    assert r.status_code == 200, r.text
    assert r.json()["killed"] is True
    flags = client.post("/v1/flags/evaluate", json={"unit_id": "u-1"}).json()["flags"]
    assert flags["new-checkout"]["reason"] == "DISABLED"
    assert flags["new-checkout"]["value"] is False
    d = client.post("/v1/assign", json={"unit_id": "u-1", "experiments": ["exp-checkout"]}).json()
    assert d["assignments"][0]["reason"] == "killed"
    assert (
        client.get("/v1/audit", params={"key": "new-checkout"}).json()["items"][0]["reason"]
        == "incident 42"
    )
    assert client.post("/v1/flags/new-checkout/revive", json={}).json()["killed"] is False
    d = client.post("/v1/assign", json={"unit_id": "u-1", "experiments": ["exp-checkout"]}).json()
    assert d["assignments"][0]["reason"] == "assigned"
    assert_problem(client.post("/v1/flags/ghost/kill", json={}), 404)


def test_rollout_actions(client: TestClient[Any]) -> None:
    created = client.post(
        "/v1/rollouts",
        json={
            "key": "nc",
            "flag_key": "new-checkout",
            "variation": "on",
            "steps": [{"traffic_fraction": 0.1, "min_units": 100}, {"traffic_fraction": 1.0}],
        },
    )
    assert created.status_code == 201, created.text
    assert_problem(client.post("/v1/rollouts/nc/actions", json={"action": "pause"}), 409)
    started = client.post("/v1/rollouts/nc/actions", json={"action": "start", "reason": "go"})
    assert started.status_code == 200, started.text
    assert started.json()["status"] == "active"
    advanced = client.post("/v1/rollouts/nc/actions", json={"action": "advance", "units_seen": 500})
    assert advanced.status_code == 200, advanced.text
    assert advanced.json()["step_index"] == 1
    back = client.post(
        "/v1/rollouts/nc/actions", json={"action": "roll_back", "reason": "error rate"}
    )
    assert back.json()["status"] == "rolled_back"
    assert_problem(
        client.post("/v1/rollouts/nc/actions", json={"action": "fly"}), 422, path="action"
    )


def test_ofrep_single(with_split: TestClient[Any]) -> None:
    r = with_split.post(
        "/ofrep/v1/evaluate/flags/banner", json={"context": {"targetingKey": "u-1"}}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["key"] == "banner" and body["reason"] == "SPLIT"
    assert body["variant"] in ("blue", "red") and body["value"] == body["variant"]
    missing = with_split.post("/ofrep/v1/evaluate/flags/ghost", json={"context": {}})
    assert missing.status_code == 404
    assert missing.json()["errorCode"] == "FLAG_NOT_FOUND"
    no_key = with_split.post("/ofrep/v1/evaluate/flags/banner", json={"context": {}})
    assert no_key.status_code == 400
    assert no_key.json()["errorCode"] == "TARGETING_KEY_MISSING"
    assert "errorDetails" in no_key.json()


def test_ofrep_bulk(with_split: TestClient[Any]) -> None:
    r = with_split.post(
        "/ofrep/v1/evaluate/flags", json={"context": {"targetingKey": "u-1", "country": "US"}}
    )
    assert r.status_code == 200, r.text
    items = {f["key"]: f for f in r.json()["flags"]}
    assert set(items) == {"new-checkout", "banner"}
    assert items["new-checkout"]["value"] is False
    assert "errorCode" not in items["banner"]
