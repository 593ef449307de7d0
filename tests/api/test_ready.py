"""``/health`` (liveness) and ``/ready`` (store, cache, snapshot freshness), both keyless."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from litestar.testing import TestClient

from abwb.access.keys import MemoryApiKeyStore
from abwb.config import ConfigBundle
from abwb.settings import ApiSettings, Settings
from abwb.store.memory import MemoryConfigStore, MemoryEventStore
from api import create_app

from .conftest import NOW, TEST_HOST, bearer
from .test_failures import FlakyConfigStore


def test_health_and_ready_with_keys_configured(
    make_client: Callable[..., TestClient[Any]], keys: MemoryApiKeyStore,
    config_store: MemoryConfigStore,
) -> None:
    client = make_client(keys=keys)
    assert client.get("/health").json() == {"status": "ok"}
    r = client.get("/ready")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready" and body["degraded"] == []
    assert set(body["checks"]) == {"store", "cache", "snapshot"}
    assert body["checks"]["snapshot"]["max_age_s"] == 60.0
    assert body["config_version"] == config_store.config_version()  # the snapshot served
    assert client.get("/v1/health", headers=bearer("nope-nope")).status_code == 200


def test_ready_stays_200_when_the_store_is_down(bundle: ConfigBundle) -> None:
    store = FlakyConfigStore(bundle)
    app = create_app(
        Settings(),
        config_store=store,
        event_store=MemoryEventStore(),
        options=ApiSettings(allowed_hosts=(TEST_HOST,), snapshot_poll_s=0),
        clock=lambda: NOW,
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/ready").status_code == 200
        store.down = True
        r = client.get("/ready")
        # assignment still serves from the snapshot: the replica stays in rotation
        assert r.status_code == 200
        body = r.json()
        assert body["status"] == "degraded" and body["degraded"] == ["store"]
        assert body["checks"]["store"]["detail"].startswith("StorageError")
        assert "refused" not in r.text  # the driver's message stays in the log
        assert body["checks"]["store"]["kind"] == "FlakyConfigStore"
        health = client.get("/v1/health").json()
        assert health["status"] == "degraded" and health["store"]["ok"] is False
        assert client.post("/v1/assign", json={"unit_id": "u"}).status_code == 200
        assert client.get("/health").status_code == 200  # still alive
        store.down = False
        assert client.get("/ready").status_code == 200


def test_ready_stays_200_when_redis_is_unreachable(bundle: ConfigBundle) -> None:
    from abwb.cache.redis import RedisAssignmentCache

    cache = RedisAssignmentCache("redis://127.0.0.1:1/0")
    app = create_app(
        Settings(),
        config_store=MemoryConfigStore(bundle),
        event_store=MemoryEventStore(),
        cache=cache,
        options=ApiSettings(allowed_hosts=(TEST_HOST,), snapshot_poll_s=0),
        clock=lambda: NOW,
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        started = time.monotonic()
        r = client.get("/ready")
        assert time.monotonic() - started < 5
        assert r.status_code == 200
        body = r.json()
        assert body["status"] == "degraded" and body["degraded"] == ["cache"]
        assert "127.0.0.1" not in r.text
        assert body["checks"]["cache"]["kind"] == "RedisAssignmentCache"
        assert body["checks"]["cache"]["detail"]
        assert client.blocking_portal is not None
        client.blocking_portal.call(cache.close)


def test_ready_503_when_snapshot_stale(bundle: ConfigBundle) -> None:
    offset = [0.0]
    app = create_app(
        Settings(),
        config_store=MemoryConfigStore(bundle),
        event_store=MemoryEventStore(),
        options=ApiSettings(allowed_hosts=(TEST_HOST,), snapshot_poll_s=0, ready_max_snapshot_age_s=30),
        clock=lambda: NOW,
        monotonic=lambda: time.monotonic() + offset[0],
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/ready").status_code == 200
        offset[0] = 45.0
        r = client.get("/ready")
        assert r.status_code == 503 and r.json()["status"] == "not_ready"
        snap = r.json()["checks"]["snapshot"]
        assert r.json()["degraded"] == ["snapshot"]
        assert snap["ok"] is False and snap["age_s"] >= 45 and snap["max_age_s"] == 30
        assert "45" in snap["detail"] and "limit 30" in snap["detail"]


def test_ready_freshness_check_can_be_disabled(bundle: ConfigBundle) -> None:
    app = create_app(
        Settings(),
        config_store=MemoryConfigStore(bundle),
        event_store=MemoryEventStore(),
        options=ApiSettings(allowed_hosts=(TEST_HOST,), snapshot_poll_s=0, ready_max_snapshot_age_s=0),
        monotonic=lambda: time.monotonic() + 1e6,
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/ready")
        assert r.status_code == 200 and r.json()["checks"]["snapshot"]["max_age_s"] is None
