"""Failure behaviour: store down → writes 503, assignment keeps serving; Redis down → same."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import TestClient

from abwb.config import ConfigBundle
from abwb.errors import StorageError
from abwb.settings import ApiSettings, ExposureSettings, Settings
from abwb.store.memory import MemoryConfigStore, MemoryEventStore
from api import create_app

from ..waiting import wait_for
from .conftest import NOW, TEST_HOST, assert_problem


class FlakyConfigStore(MemoryConfigStore):
    """A config store whose database can be switched off."""

    down = False

    def _check(self) -> None:
        if self.down:
            raise StorageError("connection to the database refused")

    def config_version(self) -> int:
        self._check()
        return super().config_version()

    def load_bundle(self) -> ConfigBundle:
        self._check()
        return super().load_bundle()

    def get(self, kind: Any, key: str) -> Any:
        self._check()
        return super().get(kind, key)

    def create(self, kind: Any, obj: Any, *, actor: str, reason: str = "") -> Any:
        self._check()
        return super().create(kind, obj, actor=actor, reason=reason)


def test_store_down_writes_503_assignment_serves_snapshot(bundle: ConfigBundle) -> None:
    store = FlakyConfigStore(bundle)
    app = create_app(
        Settings(),
        config_store=store,
        event_store=MemoryEventStore(),
        options=ApiSettings(allowed_hosts=(TEST_HOST,), snapshot_poll_s=0.02),
        clock=lambda: NOW,
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        before = client.post("/v1/assign", json={"unit_id": "u-1"}).json()
        store.down = True
        problem = assert_problem(
            client.post(
                "/v1/segments",
                json={"key": "s", "condition": {"attr": "a", "op": "eq", "value": 1}},
            ),
            503,
        )
        assert "refused" not in problem["detail"]  # the cause stays in the log
        assert_problem(client.get("/v1/experiments/exp-a"), 503)
        def snapshot_error() -> str:
            return str(client.get("/v1/health").json()["snapshot_error"] or "")

        # the watcher polls and fails meanwhile
        wait_for(lambda: snapshot_error().startswith("StorageError"),
                 what="the watcher to see the outage")
        after = client.post("/v1/assign", json={"unit_id": "u-1"})
        assert after.status_code == 200
        assert after.json()["assignments"] == before["assignments"]
        health = client.get("/v1/health").json()
        assert health["status"] == "degraded"
        assert health["store"]["ok"] is False
        assert (health["snapshot_error"] or "").startswith("StorageError")
        assert "refused" not in (health["snapshot_error"] or "")
        store.down = False
        wait_for(lambda: client.get("/v1/health").json()["status"] == "ok",
                 what="health to recover once the store is back")


def test_redis_down_assignment_still_answers(
    make_client: Callable[..., TestClient[Any]], bundle: ConfigBundle
) -> None:
    from abwb.cache.redis import RedisAssignmentCache

    # a real Redis client pointed at a port where nothing listens
    cache = RedisAssignmentCache("redis://127.0.0.1:1/0")
    events = MemoryEventStore()
    app = create_app(
        Settings(),
        config_store=MemoryConfigStore(bundle),
        event_store=events,
        cache=cache,
        clock=lambda: NOW,
        options=ApiSettings(allowed_hosts=(TEST_HOST,),
            snapshot_poll_s=0, exposures=ExposureSettings(flush_interval_s=0.01)
        ),
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.post("/v1/assign", json={"unit_id": "u-1"})
        assert r.status_code == 200, r.text
        assert {d["experiment"]: d["reason"] for d in r.json()["assignments"]}["exp-a"] == (
            "assigned"
        )
        # exposures still written; the store de-dups
        wait_for(lambda: len(events.read_exposures()) >= 2, what="two exposures stored")
        health = client.get("/v1/health").json()
        assert health["status"] == "degraded" and health["cache"]["ok"] is False
        assert health["exposures"]["dedup_degraded"] >= 1
        assert client.blocking_portal is not None
        client.blocking_portal.call(cache.close)


@pytest.mark.parametrize("poll_s", [0.02])
def test_writes_by_other_processes_are_picked_up(
    make_client: Callable[..., TestClient[Any]], config_store: MemoryConfigStore, poll_s: float
) -> None:
    client = make_client(snapshot_poll_s=poll_s)
    exp = config_store.get("experiment", "exp-a")
    import msgspec

    config_store.update(
        "experiment",
        msgspec.structs.replace(exp, status="paused"),
        expected_version=exp.version,
        actor="cli",
    )
    def reason() -> str:
        d = client.post("/v1/assign", json={"unit_id": "u", "experiments": ["exp-a"]}).json()
        return str(d["assignments"][0]["reason"])

    wait_for(lambda: reason() == "paused", what="the other process's pause to be picked up")
