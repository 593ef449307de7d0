"""The hot path never waits on the key store: keys reload in the background, one at a time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from litestar.testing import TestClient

from abwb.access.keys import ApiKey, MemoryApiKeyStore
from abwb.errors import StorageError

from .conftest import ASSIGN, bearer


class StuckKeyStore:
    """A key store that can be made to hang (a database behind a frozen connection)."""

    def __init__(self, inner: MemoryApiKeyStore) -> None:
        self.inner = inner
        self.release = threading.Event()
        self.release.set()
        self.in_flight = 0
        self.most_in_flight = 0
        self.calls = 0
        self.fail = False
        self._lock = threading.Lock()

    def active(self) -> list[ApiKey]:
        with self._lock:
            self.calls += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            self.release.wait(30)
            if self.fail:
                raise StorageError("database unreachable")
            return self.inner.active()
        finally:
            with self._lock:
                self.in_flight -= 1

    def configured(self) -> bool:
        return self.inner.configured()


def wait_for(predicate: Callable[[], bool], deadline_s: float = 10.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached before the deadline"
        time.sleep(0.01)


def test_requests_never_wait_for_a_stuck_key_store(
    make_client: Callable[..., TestClient[Any]], keys: MemoryApiKeyStore
) -> None:
    store = StuckKeyStore(keys)
    client = make_client(keys=store, key_refresh_s=0.01)
    store.release.clear()  # the next background reload hangs
    wait_for(lambda: store.in_flight == 1)
    for _ in range(50):
        r = client.post("/v1/assign", json={"unit_id": "u-1"}, headers=bearer(ASSIGN))
        assert r.status_code == 200, r.text
        assert client.post("/v1/assign", json={"unit_id": "u-1"}).status_code == 401
    # one reload at a time, however many requests arrived meanwhile
    assert store.most_in_flight == 1
    store.fail = True
    store.release.set()
    calls = store.calls
    wait_for(lambda: store.calls > calls + 1)  # failing reloads go on in the background
    ring = client.app.state.services.auth.keys
    assert ring.counters["reload_failed"] >= 1
    # the keys known before the outage keep working
    r = client.post("/v1/assign", json={"unit_id": "u-2"}, headers=bearer(ASSIGN))
    assert r.status_code == 200


def test_a_revoked_key_is_refused_after_the_background_reload(
    make_client: Callable[..., TestClient[Any]], keys: MemoryApiKeyStore
) -> None:
    client = make_client(keys=keys, key_refresh_s=0.01)
    assert client.post("/v1/assign", json={"unit_id": "u"}, headers=bearer(ASSIGN)).is_success
    keys.revoke("svc")
    wait_for(
        lambda: client.post(
            "/v1/assign", json={"unit_id": "u"}, headers=bearer(ASSIGN)
        ).status_code
        == 401
    )


def test_auto_mode_fails_closed_while_the_key_store_never_answered(
    make_client: Callable[..., TestClient[Any]],
) -> None:
    store = StuckKeyStore(MemoryApiKeyStore())  # no key stored at all...
    store.fail = True  # ...but the store cannot say so (the database is down)
    client = make_client(keys=store, key_refresh_s=0.01)
    # keys might exist that this process cannot see: the API stays closed
    assert client.post("/v1/assign", json={"unit_id": "u"}).status_code == 401
    store.fail = False
    ring = client.app.state.services.auth.keys
    wait_for(lambda: ring.counters["reloads"] >= 1)
    # the store answered that no key exists: auto mode serves the open embedded case
    assert client.post("/v1/assign", json={"unit_id": "u"}).status_code == 200
