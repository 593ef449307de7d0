"""API keys (hashed, constant-time), scopes 401/403, rate limit 429, auth modes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import TestClient

from abwb.access.keys import MemoryApiKeyStore, hash_secret

from .conftest import ADMIN, ASSIGN, INGEST, READ, assert_problem, bearer


@pytest.fixture
def secured(
    make_client: Callable[..., TestClient[Any]], keys: MemoryApiKeyStore
) -> TestClient[Any]:
    return make_client(keys=keys)


def test_keys_are_stored_hashed(keys: MemoryApiKeyStore) -> None:
    stored = {k.key_hash for k in keys.active()}
    assert hash_secret(ADMIN) in stored
    assert all(ADMIN not in h for h in stored)


def test_missing_or_unknown_key_is_401(secured: TestClient[Any]) -> None:
    r = secured.post("/v1/assign", json={"unit_id": "u"})
    assert_problem(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert_problem(
        secured.post("/v1/assign", json={"unit_id": "u"}, headers=bearer("wrong-key")), 401
    )
    assert_problem(secured.get("/v1/experiments", headers={"Authorization": "Basic abc"}), 401)


@pytest.mark.parametrize(
    ("secret", "method", "path", "body", "status"),
    [
        (ASSIGN, "post", "/v1/assign", {"unit_id": "u"}, 200),
        (READ, "post", "/v1/assign", {"unit_id": "u"}, 403),
        (ADMIN, "post", "/v1/assign", {"unit_id": "u"}, 200),
        (READ, "get", "/v1/experiments", None, 200),
        (ASSIGN, "get", "/v1/experiments", None, 403),
        (ADMIN, "get", "/v1/audit", None, 200),
        (READ, "post", "/v1/segments", {"key": "s", "condition": {}}, 403),
        (ASSIGN, "post", "/v1/segments", {"key": "s", "condition": {}}, 403),
        (
            ADMIN,
            "post",
            "/v1/segments",
            {"key": "s", "condition": {"attr": "plan", "op": "eq", "value": "pro"}},
            201,
        ),
        (INGEST, "post", "/v1/events", {"events": []}, 202),
        (ADMIN, "post", "/v1/events", {"events": []}, 202),
        (ASSIGN, "post", "/v1/events", {"events": []}, 403),
        (INGEST, "post", "/v1/assign", {"unit_id": "u"}, 403),
        (READ, "post", "/v1/events", {"events": []}, 403),
        (READ, "post", "/v1/experiments/exp-a/status", {"action": "pause"}, 403),
    ],
)
def test_scopes(
    secured: TestClient[Any], secret: str, method: str, path: str, body: Any, status: int
) -> None:
    kwargs: dict[str, Any] = {"headers": bearer(secret)}
    if body is not None:
        kwargs["json"] = body
    r = getattr(secured, method)(path, **kwargs)
    assert r.status_code == status, r.text
    if status == 403:
        assert_problem(r, 403)


def test_x_api_key_header(secured: TestClient[Any]) -> None:
    r = secured.post("/v1/assign", json={"unit_id": "u"}, headers={"X-API-Key": ASSIGN})
    assert r.status_code == 200


def test_health_and_schema_are_public(secured: TestClient[Any]) -> None:
    assert secured.get("/v1/health").status_code == 200
    assert secured.get("/schema/openapi.json").status_code == 200
    assert_problem(secured.get("/metrics"), 401)


def test_audit_records_the_key_name(secured: TestClient[Any]) -> None:
    secured.post(
        "/v1/segments",
        json={"key": "pro", "condition": {"attr": "plan", "op": "eq", "value": "pro"}},
        headers=bearer(ADMIN),
    )
    entry = secured.get("/v1/audit", headers=bearer(READ)).json()["items"][0]
    assert entry["actor"] == "key:ops"


def test_auth_modes(make_client: Callable[..., TestClient[Any]], keys: MemoryApiKeyStore) -> None:
    open_demo = make_client()  # auto, no keys: open
    assert open_demo.post("/v1/assign", json={"unit_id": "u"}).status_code == 200
    forced_off = make_client(keys=keys, auth="off")
    assert forced_off.post("/v1/assign", json={"unit_id": "u"}).status_code == 200
    locked = make_client(auth="on")  # on without keys: nobody gets in
    assert_problem(locked.post("/v1/assign", json={"unit_id": "u"}), 401)


def test_rate_limit_is_per_key(
    make_client: Callable[..., TestClient[Any]], keys: MemoryApiKeyStore
) -> None:
    client = make_client(keys=keys, rate_limit_per_s=0.001, rate_burst=3)
    codes = [
        client.post("/v1/assign", json={"unit_id": "u"}, headers=bearer(ASSIGN)).status_code
        for _ in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    r = client.post("/v1/assign", json={"unit_id": "u"}, headers=bearer(ASSIGN))
    assert_problem(r, 429)
    assert int(r.headers["retry-after"]) >= 1
    # another key has its own bucket
    assert client.get("/v1/experiments", headers=bearer(READ)).status_code == 200
