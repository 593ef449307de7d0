"""Experiment CRUD, ETag/If-Match, targeting, the lifecycle state machine and the audit."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from .conftest import assert_problem, variants


def new_experiment(key: str = "exp-new", **extra: Any) -> dict[str, Any]:
    return {"key": key, "variants": variants("control", "treatment"), **extra}


def test_create_get_and_list(client: TestClient[Any]) -> None:
    r = client.post(
        "/v1/experiments", json=new_experiment(owner="team-z"), params={"reason": "launch prep"}
    )
    assert r.status_code == 201, r.text
    assert r.headers["etag"] == '"v1"'
    assert r.headers["location"] == "/v1/experiments/exp-new"
    assert r.json()["status"] == "draft" and r.json()["version"] == 1
    got = client.get("/v1/experiments/exp-new")
    assert got.status_code == 200 and got.headers["etag"] == '"v1"'
    page = client.get("/v1/experiments", params={"owner": "team-z"}).json()
    assert [e["key"] for e in page["items"]] == ["exp-new"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "running"}, ["exp-a", "exp-checkout", "exp-us"]),
        ({"status": "draft"}, ["exp-draft", "exp-free"]),
        ({"owner": "team-a"}, ["exp-a", "exp-checkout"]),
        ({"flag": "new-checkout"}, ["exp-checkout"]),
        ({"limit": 2, "offset": 1}, ["exp-checkout", "exp-draft"]),
        ({"owner": "team-a", "limit": 1, "offset": 1}, ["exp-checkout"]),
    ],
)
def test_list_filters_and_paginates(
    client: TestClient[Any], params: dict[str, Any], expected: list[str]
) -> None:
    r = client.get("/v1/experiments", params=params)
    assert r.status_code == 200, r.text
    assert [e["key"] for e in r.json()["items"]] == expected


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 5000}, {"offset": -1}, {"limit": "x"}])
def test_list_bad_paging_is_400(client: TestClient[Any], params: dict[str, Any]) -> None:
    assert_problem(client.get("/v1/experiments", params=params), 400)


def test_create_refuses_duplicates_non_drafts_and_unknown_refs(client: TestClient[Any]) -> None:
    assert_problem(client.post("/v1/experiments", json=new_experiment("exp-a")), 409)
    assert_problem(
        client.post("/v1/experiments", json=new_experiment(status="running")), 422, path="status"
    )
    body = assert_problem(
        client.post(
            "/v1/experiments",
            json=new_experiment(
                layer={"layer": "ghost", "ranges": [[0, 10]]}, metrics={"primary": ["nope"]}
            ),
        ),
        422,
    )
    assert {e["path"] for e in body["errors"]} == {"layer.layer", "metrics.primary[0]"}


def test_create_reports_every_problem_with_its_path(client: TestClient[Any]) -> None:
    body = assert_problem(
        client.post(
            "/v1/experiments",
            json={
                "key": "Bad Key",
                "traffic_fraction": 2,
                "variants": [
                    {"key": "a", "weight": 0.7, "is_control": True},
                    {"key": "b", "weight": -0.3},
                ],
            },
        ),
        422,
    )
    paths = {e["path"] for e in body["errors"]}
    assert {"key", "traffic_fraction", "variants[1].weight"} <= paths


def test_patch_requires_if_match_and_detects_stale_versions(client: TestClient[Any]) -> None:
    assert_problem(client.patch("/v1/experiments/exp-a", json={"owner": "x"}), 428)
    etag = client.get("/v1/experiments/exp-a").headers["etag"]
    ok = client.patch("/v1/experiments/exp-a", json={"owner": "team-q"}, headers={"If-Match": etag})
    assert ok.status_code == 200, ok.text
    assert ok.json()["owner"] == "team-q"
    assert ok.headers["etag"] != etag
    stale = client.patch("/v1/experiments/exp-a", json={"owner": "y"}, headers={"If-Match": etag})
    assert_problem(stale, 412)
    assert client.get("/v1/experiments/exp-a").json()["owner"] == "team-q"
    assert_problem(
        client.patch("/v1/experiments/exp-a", json={"owner": "y"}, headers={"If-Match": "v2"}),
        422,
        path="If-Match",
    )


def test_patch_validates_and_protects_fields(client: TestClient[Any]) -> None:
    etag = client.get("/v1/experiments/exp-a").headers["etag"]
    h = {"If-Match": etag}
    assert_problem(
        client.patch("/v1/experiments/exp-a", json={"traffic_fraction": 1.5}, headers=h),
        422,
        path="traffic_fraction",
    )
    assert_problem(
        client.patch("/v1/experiments/exp-a", json={"status": "paused"}, headers=h),
        422,
        path="status",
    )
    assert_problem(
        client.patch("/v1/experiments/exp-a", json={"key": "other"}, headers=h), 422, path="key"
    )
    assert_problem(client.patch("/v1/experiments/exp-a", json={"colour": "red"}, headers=h), 422)
    assert_problem(client.patch("/v1/experiments/nope", json={}, headers=h), 404)
    # nothing was written
    assert client.get("/v1/experiments/exp-a").headers["etag"] == etag


def test_targeting_get_put_validated(client: TestClient[Any]) -> None:
    r = client.get("/v1/experiments/exp-us/targeting")
    assert r.json()["targeting"] == {"attr": "country", "op": "in", "value": ["US"]}
    bad = client.put(
        "/v1/experiments/exp-us/targeting",
        json={"targeting": {"attr": "country", "op": "no-such-op", "value": 1}},
    )
    body = assert_problem(bad, 422)
    assert all(e["path"].startswith("targeting") for e in body["errors"])
    good = client.put(
        "/v1/experiments/exp-us/targeting",
        json={
            "targeting": {"attr": "country", "op": "in", "value": ["CA"]},
            "reason": "expand to Canada",
        },
    )
    assert good.status_code == 200, good.text
    ca = client.post(
        "/v1/assign",
        json={"unit_id": "u1", "attributes": {"country": "CA"}, "experiments": ["exp-us"]},
    ).json()
    assert ca["assignments"][0]["reason"] == "assigned"
    audit = client.get("/v1/audit", params={"kind": "experiment", "key": "exp-us"}).json()
    assert audit["items"][0]["reason"] == "expand to Canada"


@pytest.mark.parametrize(
    ("key", "action", "status"),
    [
        ("exp-free", "pause", 409),
        ("exp-free", "resume", 409),
        ("exp-free", "stop", 409),
        ("exp-a", "start", 409),
        ("exp-a", "archive", 409),
        ("exp-a", "resume", 409),
    ],
)
def test_illegal_transitions_are_409(
    client: TestClient[Any], key: str, action: str, status: int
) -> None:
    body = assert_problem(
        client.post(f"/v1/experiments/{key}/status", json={"action": action}), status
    )
    assert "allowed actions" in body["errors"][0]["message"]


def test_lifecycle_walk_is_audited_and_served(client: TestClient[Any]) -> None:
    def act(action: str, reason: str = "") -> dict[str, Any]:
        r = client.post(
            "/v1/experiments/exp-free/status", json={"action": action, "reason": reason}
        )
        assert r.status_code == 200, r.text
        return r.json()

    def reason() -> str:
        return client.post("/v1/assign", json={"unit_id": "u", "experiments": ["exp-free"]}).json()[
            "assignments"
        ][0]["reason"]

    assert act("start", "approved in review")["status"] == "running"
    assert reason() == "assigned"
    assert act("pause")["status"] == "paused"
    assert reason() == "paused"
    assert act("resume")["status"] == "running"
    assert act("stop", "shipped")["status"] == "stopped"
    assert reason() == "not_running"
    assert act("archive")["status"] == "archived"
    entries = client.get("/v1/audit", params={"key": "exp-free"}).json()["items"]
    assert [e["reason"] for e in entries[:5]] == [
        "archive",
        "shipped",
        "resume",
        "pause",
        "approved in review",
    ]
    assert entries[0]["before"]["status"] == "stopped"
    assert entries[0]["after"]["status"] == "archived"


def test_start_refused_with_conflicts(client: TestClient[Any]) -> None:
    body = assert_problem(
        client.post("/v1/experiments/exp-draft/status", json={"action": "start"}), 409
    )
    assert (
        any("exp-checkout" in e["message"] for e in body["errors"])
        or "exp-checkout" in body["detail"]
    )
    assert client.get("/v1/experiments/exp-draft").json()["status"] == "draft"


def test_status_body_validated(client: TestClient[Any]) -> None:
    assert_problem(
        client.post("/v1/experiments/exp-a/status", json={"action": "explode"}), 422, path="action"
    )
    assert_problem(client.post("/v1/experiments/nope/status", json={"action": "start"}), 404)


def test_delete_draft_and_archive_experiment_that_ran(client: TestClient[Any]) -> None:
    r = client.delete("/v1/experiments/exp-free")
    assert r.status_code == 204
    assert_problem(client.get("/v1/experiments/exp-free"), 404)
    client.post("/v1/experiments/exp-a/status", json={"action": "stop"})
    archived = client.delete("/v1/experiments/exp-a", params={"reason": "done"})
    assert archived.status_code == 200, archived.text
    assert archived.json()["status"] == "archived"
    assert_problem(client.delete("/v1/experiments/exp-us", headers={"If-Match": '"v99"'}), 412)
