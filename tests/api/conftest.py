"""Fixtures of the API tests: a small workspace served by create_app() on memory adapters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import TestClient

from abwb.access.keys import MemoryApiKeyStore
from abwb.config import ConfigBundle
from abwb.settings import ApiSettings, ExposureSettings, Settings
from abwb.store.memory import MemoryConfigStore, MemoryEventStore
from api import create_app

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
#: The Host name Litestar's TestClient sends (accepted by the test apps' allowed hosts).
TEST_HOST = "testserver.local"

ADMIN = "admin-secret-1"
ASSIGN = "assign-secret-1"
READ = "read-secret-1"
INGEST = "ingest-secret-1"


def variants(*keys: str, payload: bool = True) -> list[dict[str, Any]]:
    w = 1 / len(keys)
    return [
        {"key": k, "weight": w, "is_control": i == 0, **({"payload": {"v": k}} if payload else {})}
        for i, k in enumerate(keys)
    ]


def workspace() -> dict[str, Any]:
    return {
        "version": 0,
        "layers": [{"key": "checkout-layer"}],
        "metrics": [{"key": "buy", "kind": "binomial", "event": "purchase"}],
        "flags": [
            {
                "key": "new-checkout",
                "type": "bool",
                "variations": {"on": True, "off": False},
                "default_variation": "off",
                "off_variation": "off",
            }
        ],
        "experiments": [
            {
                "key": "exp-a",
                "status": "running",
                "owner": "team-a",
                "variants": variants("control", "treatment"),
                "metrics": {"primary": ["buy"]},
            },
            {
                "key": "exp-us",
                "status": "running",
                "owner": "team-b",
                "targeting": {"attr": "country", "op": "in", "value": ["US"]},
                "variants": variants("control", "treatment"),
            },
            {
                "key": "exp-checkout",
                "status": "running",
                "owner": "team-a",
                "surfaces": ["checkout"],
                "flag_key": "new-checkout",
                "variants": variants("off", "on"),
            },
            {
                "key": "exp-draft",
                "owner": "team-b",
                "surfaces": ["checkout"],
                "variants": variants("control", "treatment"),
            },
            {
                "key": "exp-free",
                "owner": "team-c",
                "surfaces": ["search"],
                "variants": variants("control", "treatment"),
            },
        ],
    }


@pytest.fixture
def bundle() -> ConfigBundle:
    return ConfigBundle.from_data(workspace())


@pytest.fixture
def config_store(bundle: ConfigBundle) -> MemoryConfigStore:
    return MemoryConfigStore(bundle)


@pytest.fixture
def event_store() -> MemoryEventStore:
    return MemoryEventStore()


FAST_EXPOSURES = ExposureSettings(flush_interval_s=0.01, retry_backoff_s=0.001)


@pytest.fixture
def make_client(
    config_store: MemoryConfigStore, event_store: MemoryEventStore
) -> Iterator[Callable[..., TestClient[Any]]]:
    """Build a started TestClient; keyword arguments go to create_app / ApiSettings."""
    clients: list[TestClient[Any]] = []

    def build(
        *, keys: MemoryApiKeyStore | None = None, events: Any = None, **options: Any
    ) -> TestClient[Any]:
        opts = ApiSettings(
            **{
                "snapshot_poll_s": 0,
                "exposures": FAST_EXPOSURES,
                "allowed_hosts": (TEST_HOST,),
                **options,
            }
        )
        app = create_app(
            Settings(),
            config_store=config_store,
            event_store=events or event_store,
            options=opts,
            api_keys=keys,
            clock=lambda: NOW,
        )
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient[Any]]) -> TestClient[Any]:
    return make_client()


@pytest.fixture
def keys() -> MemoryApiKeyStore:
    store = MemoryApiKeyStore()
    store.add("ops", ADMIN, ["admin"])
    store.add("svc", ASSIGN, ["assign"])
    store.add("analyst", READ, ["read"])
    store.add("collector", INGEST, ["ingest"])
    return store


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def assert_problem(response: Any, status: int, *, path: str | None = None) -> dict[str, Any]:
    """The response is an RFC 9457 problem with ``status`` (and an error at ``path``)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:abwb:problem:")
    assert body["title"] and body["detail"]
    assert isinstance(body["errors"], list)
    if path is not None:
        paths = [e["path"] for e in body["errors"]]
        assert path in paths, paths
    return body
