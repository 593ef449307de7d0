"""A whole experiment life over HTTP, with per-role keys: create → target → start → assign →
ingest → pause → stop → archive, on the embedded default (SQLite) and PostgreSQL + Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from abwb.settings import ApiSettings, BootstrapKey, DatabaseSettings, ExposureSettings, Settings
from api import create_app

from .conftest import NOW, TEST_HOST, assert_problem, bearer, variants

OPS, SVC, COLLECTOR = "ops-secret-1", "svc-secret-1", "collector-secret-1"
OPTIONS = ApiSettings(allowed_hosts=(TEST_HOST,),
    snapshot_poll_s=0.05,
    exposures=ExposureSettings(flush_interval_s=0.01),
    keys=(
        BootstrapKey("ops", OPS, ("admin",)),
        BootstrapKey("checkout-svc", SVC, ("assign",)),
        BootstrapKey("collector", COLLECTOR, ("ingest",)),
    ),
)
EXP = "checkout-cta"


def live_experiment(client: TestClient[Any]) -> None:
    admin, svc, ingest = bearer(OPS), bearer(SVC), bearer(COLLECTOR)

    def assign(unit: str, country: str = "US") -> dict[str, Any]:
        r = client.post(
            "/v1/assign",
            json={
                "unit_id": unit,
                "attributes": {"country": country},
                "experiments": [EXP],
                "log_exposure": False,
            },
            headers=svc,
        )
        assert r.status_code == 200, r.text
        (decision,) = r.json()["assignments"]
        assert decision["experiment"] == EXP
        return dict(decision)

    def act(action: str, reason: str) -> dict[str, Any]:
        r = client.post(
            f"/v1/experiments/{EXP}/status",
            json={"action": action, "reason": reason},
            headers=admin,
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    # create (as a draft: not served yet)
    created = client.post(
        "/v1/experiments",
        json={"key": EXP, "owner": "checkout", "variants": variants("control", "big-button")},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "draft"
    assert_problem(client.post("/v1/experiments", json={"key": "x"}, headers=svc), 403)
    assert assign("u-0")["reason"] == "not_running"

    # target
    targeted = client.put(
        f"/v1/experiments/{EXP}/targeting",
        json={
            "targeting": {"attr": "country", "op": "in", "value": ["US", "CA"]},
            "reason": "north america first",
        },
        headers=admin,
    )
    assert targeted.status_code == 200, targeted.text
    got = client.get(f"/v1/experiments/{EXP}/targeting", headers=admin).json()
    assert got["targeting"]["value"] == ["US", "CA"]

    # start → assign
    assert act("start", "approved")["status"] == "running"
    decisions = {f"u-{i}": assign(f"u-{i}") for i in range(200)}
    assert {d["reason"] for d in decisions.values()} == {"assigned"}
    seen = {d["variant"] for d in decisions.values()}
    assert seen == {"control", "big-button"}
    for d in decisions.values():
        assert d["payload"] == {"v": d["variant"]}
    assert assign("u-7") == decisions["u-7"]  # deterministic
    outside = assign("u-de", country="DE")
    assert outside["reason"] == "targeting_miss" and outside["variant"] is None

    # ingest: exposures + conversions, a re-sent batch counts as duplicates
    batch = {
        "exposures": [
            {
                "experiment": EXP,
                "variant": d["variant"],
                "unit_id": unit,
                "exposed_at": "2026-06-01T12:00:00Z",
            }
            for unit, d in list(decisions.items())[:50]
        ],
        "events": [
            {
                "event_id": f"buy-{i}",
                "unit_id": f"u-{i}",
                "name": "purchase",
                "occurred_at": "2026-06-01T12:05:00Z",
                "value": 10.0 + i,
            }
            for i in range(0, 50, 5)
        ],
    }
    assert_problem(client.post("/v1/events", json=batch, headers=svc), 403)
    first = client.post("/v1/events", json=batch, headers=ingest)
    assert first.status_code == 202, first.text
    assert first.json() == {
        "exposures_accepted": 50,
        "exposures_duplicates": 0,
        "events_accepted": 10,
        "events_duplicates": 0,
    }
    again = client.post("/v1/events", json=batch, headers=ingest).json()
    assert again == {
        "exposures_accepted": 0,
        "exposures_duplicates": 50,
        "events_accepted": 0,
        "events_duplicates": 10,
    }
    events = client.app.state.services.event_store
    assert len(events.read_events()) == 10
    assert len(events.read_exposures()) == 50

    # pause → paused; resume keeps the same variants; stop; archive
    assert act("pause", "bug in tracking")["status"] == "paused"
    paused = assign("u-7")
    assert paused["reason"] == "paused" and paused["variant"] is None
    assert act("resume", "fixed")["status"] == "running"
    assert assign("u-7")["variant"] == decisions["u-7"]["variant"]
    assert act("stop", "decided")["status"] == "stopped"
    assert assign("u-7")["reason"] == "not_running"
    assert act("archive", "cleanup")["status"] == "archived"
    assert client.get(f"/v1/experiments/{EXP}", headers=admin).json()["status"] == "archived"
    body = assert_problem(
        client.post(f"/v1/experiments/{EXP}/status", json={"action": "start"}, headers=admin),
        409,
    )
    assert "allowed actions" in body["errors"][0]["message"]
    audit = client.get("/v1/audit", params={"key": EXP}, headers=admin).json()["items"]
    assert [e["reason"] for e in audit[:6]] == [
        "cleanup",
        "decided",
        "fixed",
        "bug in tracking",
        "approved",
        "north america first",
    ]
    assert {e["actor"] for e in audit} == {"key:ops"}
    assert client.get("/ready").status_code == 200


def test_lifecycle_on_embedded_sqlite(tmp_path: Path) -> None:
    settings = Settings(database=DatabaseSettings(home=tmp_path))
    with TestClient(create_app(settings, options=OPTIONS, clock=lambda: NOW)) as client:
        live_experiment(client)


@pytest.fixture
def pg_schema(pg_url: str) -> Iterator[str]:
    from abwb.store.postgres import reset_schema

    schema = f"api_life_{uuid.uuid4().hex[:10]}"
    reset_schema(pg_url, schema)
    yield schema
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.mark.integration
def test_lifecycle_on_postgres_and_redis(pg_url: str, pg_schema: str, redis_url: str) -> None:
    from abwb.cache.redis import RedisAssignmentCache

    settings = Settings(database=DatabaseSettings(url=pg_url, schema=pg_schema))
    cache = RedisAssignmentCache(redis_url, prefix=f"abwb-life-{uuid.uuid4().hex[:8]}:")
    app = create_app(settings, cache=cache, options=OPTIONS, clock=lambda: NOW)
    with TestClient(app) as client:
        try:
            live_experiment(client)
            assert client.get("/v1/health").json()["cache"]["kind"] == "RedisAssignmentCache"
            started = time.monotonic()
            assert client.get("/ready").json()["checks"]["store"]["ok"] is True
            assert time.monotonic() - started < 2
        finally:
            assert client.blocking_portal is not None
            client.blocking_portal.call(cache.purge)
            client.blocking_portal.call(cache.close)
