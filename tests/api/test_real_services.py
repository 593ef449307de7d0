"""The app on real adapters: SQLite (embedded default), PostgreSQL + Redis (integration)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from abwb.settings import ApiSettings, DatabaseSettings, ExposureSettings, Settings
from abwb.store.opening import open_stores
from api import create_app

from .conftest import NOW, TEST_HOST, workspace

OPTIONS = ApiSettings(allowed_hosts=(TEST_HOST,), snapshot_poll_s=0.05, exposures=ExposureSettings(flush_interval_s=0.01))


def seed(client: TestClient[Any]) -> None:
    """Create the test workspace through the API (drafts, then start the running ones)."""
    data = workspace()
    for plural in ("layers", "metrics", "flags"):
        for obj in data[plural]:
            assert client.post(f"/v1/{plural}", json=obj).status_code == 201
    for exp in data["experiments"]:
        running = exp.pop("status", "draft") == "running"
        assert client.post("/v1/experiments", json=exp).status_code == 201
        if running:
            r = client.post(f"/v1/experiments/{exp['key']}/status", json={"action": "start"})
            assert r.status_code == 200, r.text


def exercise(client: TestClient[Any], events: Any) -> None:
    """The main user journeys against whatever stores the app was given."""
    seed(client)
    r = client.post("/v1/assign", json={"unit_id": "u-1", "attributes": {"country": "US"}})
    assert r.status_code == 200, r.text
    reasons = {d["experiment"]: d["reason"] for d in r.json()["assignments"]}
    assert reasons["exp-a"] == "assigned" and reasons["exp-us"] == "assigned"
    for _ in range(3):
        client.post("/v1/assign", json={"unit_id": "u-1", "attributes": {"country": "US"}})
    deadline = time.monotonic() + 5
    while len(events.read_exposures()) < 3:
        assert time.monotonic() < deadline, client.get("/v1/health").json()
        time.sleep(0.02)
    assert len(events.read_exposures()) == 3
    ingested = client.post(
        "/v1/events",
        json={
            "events": [
                {
                    "event_id": "e1",
                    "unit_id": "u-1",
                    "name": "purchase",
                    "occurred_at": "2026-06-01T12:00:00Z",
                    "value": 12.0,
                }
            ]
        },
    )
    assert ingested.status_code == 202 and ingested.json()["events_accepted"] == 1
    assert (
        client.post(
            "/v1/events",
            json={
                "events": [
                    {
                        "event_id": "e1",
                        "unit_id": "u-1",
                        "name": "purchase",
                        "occurred_at": "2026-06-01T12:00:00Z",
                        "value": 12.0,
                    }
                ]
            },
        ).json()["events_duplicates"]
        == 1
    )
    etag = client.get("/v1/experiments/exp-a").headers["etag"]
    assert (
        client.patch(
            "/v1/experiments/exp-a", json={"owner": "z"}, headers={"If-Match": etag}
        ).status_code
        == 200
    )
    assert (
        client.patch(
            "/v1/experiments/exp-a", json={"owner": "y"}, headers={"If-Match": etag}
        ).status_code
        == 412
    )
    assert (
        client.post("/v1/experiments/exp-draft/status", json={"action": "start"}).status_code == 409
    )
    health = client.get("/v1/health").json()
    assert health["status"] == "ok", health
    assert health["store"]["ok"] and health["cache"]["ok"]


def test_app_on_embedded_sqlite(tmp_path: Path) -> None:
    settings = Settings(database=DatabaseSettings(home=tmp_path))
    with TestClient(create_app(settings, options=OPTIONS, clock=lambda: NOW)) as client:
        services = client.app.state.services
        exercise(client, services.event_store)
        version = client.get("/v1/health").json()["config_version"]
    # restart on the same file: config and events persisted
    with TestClient(create_app(settings, options=OPTIONS, clock=lambda: NOW)) as client:
        assert client.get("/v1/health").json()["config_version"] == version
        assert client.get("/v1/experiments/exp-a").json()["owner"] == "z"
        assert len(client.app.state.services.event_store.read_events()) == 1


@pytest.fixture
def pg_schema(pg_url: str) -> Iterator[str]:
    import psycopg

    schema = f"api_{uuid.uuid4().hex[:12]}"
    yield schema
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.mark.integration
def test_app_on_postgres_and_redis(pg_url: str, pg_schema: str, redis_url: str) -> None:
    from abwb.cache.redis import RedisAssignmentCache

    settings = Settings(database=DatabaseSettings(url=pg_url))
    opened = open_stores(settings, schema=pg_schema)
    config_store, event_store = opened.config, opened.events
    opened.alerts.close()
    prefix = f"abwb-test-{uuid.uuid4().hex[:8]}:"
    cache = RedisAssignmentCache(redis_url, prefix=prefix)
    app = create_app(
        settings,
        config_store=config_store,
        event_store=event_store,
        cache=cache,
        options=OPTIONS,
        clock=lambda: NOW,
    )
    try:
        with TestClient(app) as client:
            try:
                exercise(client, event_store)
                # a write made by another process is picked up by polling the config version
                other = config_store.get("experiment", "exp-free")
                config_store.update(
                    "experiment",
                    msgspec.structs.replace(other, owner="elsewhere"),
                    expected_version=other.version,
                    actor="other-process",
                )
                version = config_store.config_version()
                deadline = time.monotonic() + 5
                while client.get("/v1/health").json()["config_version"] != version:
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
            finally:
                # the Redis client lives on the app's event loop: clean up there
                assert client.blocking_portal is not None
                client.blocking_portal.call(cache.purge)
                assert client.blocking_portal.call(cache.purge) == 0  # nothing left behind
                client.blocking_portal.call(cache.close)
    finally:
        config_store.close()
        event_store.close()


def test_api_keys_live_in_the_database(tmp_path: Path) -> None:
    from abwb.access.stores import SqlApiKeyStore
    from abwb.settings import BootstrapKey

    settings = Settings(database=DatabaseSettings(home=tmp_path))
    bootstrap = ApiSettings(allowed_hosts=(TEST_HOST,),
        snapshot_poll_s=0, keys=(BootstrapKey("ops", "ops-secret-1", ("admin",)),)
    )
    with TestClient(create_app(settings, options=bootstrap)) as client:
        assert client.get("/v1/experiments").status_code == 401
        ok = client.get("/v1/experiments", headers={"Authorization": "Bearer ops-secret-1"})
        assert ok.status_code == 200
    # a later process without bootstrap keys: the stored key still guards the API
    with TestClient(create_app(settings, options=ApiSettings(allowed_hosts=(TEST_HOST,), snapshot_poll_s=0))) as client:
        assert client.get("/v1/experiments").status_code == 401
        assert (
            client.get("/v1/experiments", headers={"X-API-Key": "ops-secret-1"}).status_code == 200
        )
        keys = client.app.state.services.auth.keys.store
        assert isinstance(keys, SqlApiKeyStore)
        assert [k.scopes for k in keys.active()] == [frozenset({"admin"})]
        assert keys.revoke("ops") == 1
        client.app.state.services.auth.keys.reload()
        # revoking the last key locks the API; it does not fall back to open
        assert (
            client.get("/v1/experiments", headers={"X-API-Key": "ops-secret-1"}).status_code == 401
        )
        assert client.get("/v1/experiments").status_code == 401


@pytest.mark.integration
def test_api_keys_on_postgres(pg_url: str, pg_schema: str) -> None:
    from abwb.access.stores import SqlApiKeyStore

    opened = open_stores(
        Settings(database=DatabaseSettings(url=pg_url)), schema=pg_schema
    )
    config_store, event_store = opened.config, opened.events
    opened.alerts.close()
    try:
        keys = SqlApiKeyStore(opened.database)
        keys.add("svc", "svc-secret-1", ["assign"])
        keys.ensure("svc", "svc-secret-1", ["assign"])  # idempotent
        assert [(k.name, k.scopes) for k in keys.active()] == [("svc", frozenset({"assign"}))]
        app = create_app(
            Settings(),
            config_store=config_store,
            event_store=event_store,
            options=ApiSettings(allowed_hosts=(TEST_HOST,), snapshot_poll_s=0),
            clock=lambda: NOW,
        )
        with TestClient(app) as client:
            assert client.post("/v1/assign", json={"unit_id": "u"}).status_code == 401
            r = client.post(
                "/v1/assign",
                json={"unit_id": "u"},
                headers={"Authorization": "Bearer svc-secret-1"},
            )
            assert r.status_code == 200, r.text
        assert keys.revoke("svc") == 1 and keys.active() == []
    finally:
        config_store.close()
        event_store.close()
