"""``GET /v1/alerts``: filters, paging, validation and scope, on memory, SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from abwb.access.keys import MemoryApiKeyStore
from abwb.monitoring.alerts import Alert, AlertStore, Evidence, MemoryAlertStore, alert_id
from abwb.settings import ApiSettings, DatabaseSettings, Settings
from abwb.store.memory import MemoryConfigStore, MemoryEventStore
from abwb.store.opening import open_stores
from api import create_app

from .conftest import ASSIGN, NOW, READ, TEST_HOST

OPTIONS = ApiSettings(allowed_hosts=(TEST_HOST,), snapshot_poll_s=0)
T0 = NOW - timedelta(hours=3)


def alert(key: str, minute: int, *, experiment: str | None = "exp-a",
          rollout: str | None = None, kind: str = "srm") -> Alert:
    opened = T0 + timedelta(minutes=minute)
    return Alert(
        id=alert_id(key, opened), dedup_key=key, kind=kind, severity="critical",  # type: ignore[arg-type]
        message=f"{key} fired", opened_at=opened, last_seen_at=opened,
        evidence=Evidence(statistic=-4.5, threshold=0.001, p_value=1e-5, n={"control": 900}),
        experiment=experiment, rollout=rollout,
    )


def seed(store: AlertStore) -> None:
    srm = alert("srm:exp-a", 0)
    store.save([
        msgspec.structs.replace(srm, status="resolved", resolved_at=T0 + timedelta(minutes=30)),
        alert("guardrail:exp-a:buy:treatment", 10, kind="guardrail"),
        alert("guardrail:ramp:buy:on", 20, experiment=None, rollout="ramp", kind="guardrail"),
        alert("exposure_health:exp-us", 40, experiment="exp-us", kind="exposure_health"),
    ])


def keys_of(body: dict[str, Any]) -> list[str]:
    return [a["dedup_key"] for a in body["items"]]


def check_filters_and_paging(client: TestClient[Any]) -> None:
    """The same answers whatever the store."""
    every = client.get("/v1/alerts")
    assert every.status_code == 200, every.text
    assert keys_of(every.json()) == [
        "exposure_health:exp-us", "guardrail:ramp:buy:on", "guardrail:exp-a:buy:treatment",
        "srm:exp-a",
    ]
    assert every.json()["next_offset"] is None
    first = every.json()["items"][-1]
    assert first["status"] == "resolved" and first["evidence"]["p_value"] == 1e-5
    assert keys_of(client.get("/v1/alerts", params={"experiment": "exp-a"}).json()) == [
        "guardrail:exp-a:buy:treatment", "srm:exp-a"]
    assert keys_of(client.get("/v1/alerts", params={"experiment": "ramp"}).json()) == [
        "guardrail:ramp:buy:on"]
    assert keys_of(client.get("/v1/alerts", params={"status": "resolved"}).json()) == ["srm:exp-a"]
    assert keys_of(client.get("/v1/alerts", params={"kind": "guardrail", "status": "open"}).json()) == [
        "guardrail:ramp:buy:on", "guardrail:exp-a:buy:treatment"]
    # since: opened or resolved from then on (the srm alert resolved at minute 30)
    since = (T0 + timedelta(minutes=25)).isoformat()
    assert keys_of(client.get("/v1/alerts", params={"since": since}).json()) == [
        "exposure_health:exp-us", "srm:exp-a"]
    zulu = (T0 + timedelta(minutes=35)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert keys_of(client.get("/v1/alerts", params={"since": zulu}).json()) == [
        "exposure_health:exp-us"]
    # paging: next_offset until the last page
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = client.get("/v1/alerts", params={"limit": 3, "offset": offset}).json()
        seen += keys_of(page)
        offset = page["next_offset"]
    assert seen == keys_of(every.json())
    exact = client.get("/v1/alerts", params={"limit": 4}).json()
    assert len(exact["items"]) == 4 and exact["next_offset"] is None


@pytest.mark.parametrize(("params", "field"), [
    ({"status": "closed"}, "status"),
    ({"kind": "latency"}, "kind"),
    ({"since": "yesterday"}, "since"),
    ({"since": "2026-06-01T10:00:00"}, "since"),  # no offset: ambiguous instant
    ({"since": "0.5"}, "since"),  # not a unix time either
    ({"limit": 0}, "limit"),
    ({"limit": 1001}, "limit"),
    ({"offset": -1}, "offset"),
    ({"experiment": "x" * 65}, "experiment"),
])
def test_bad_filters_are_400_naming_the_field(params: dict[str, Any], field: str) -> None:
    with TestClient(create_app(Settings(), config_store=MemoryConfigStore(),
                               event_store=MemoryEventStore(), options=OPTIONS,
                               alert_store=MemoryAlertStore())) as client:
        response = client.get("/v1/alerts", params=params)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in str(response.json()["errors"]), response.json()


def test_memory_store() -> None:
    store = MemoryAlertStore()
    seed(store)
    with TestClient(create_app(Settings(), config_store=MemoryConfigStore(),
                               event_store=MemoryEventStore(), options=OPTIONS,
                               alert_store=store)) as client:
        check_filters_and_paging(client)


def test_reading_alerts_needs_the_read_scope() -> None:
    keys = MemoryApiKeyStore()
    keys.add("analyst", READ, ["read"])
    keys.add("svc", ASSIGN, ["assign"])
    store = MemoryAlertStore()
    seed(store)
    app = create_app(Settings(), config_store=MemoryConfigStore(), event_store=MemoryEventStore(),
                     options=ApiSettings(allowed_hosts=(TEST_HOST,), snapshot_poll_s=0,
                                         auth="on"),
                     api_keys=keys, alert_store=store)
    with TestClient(app) as client:
        assert client.get("/v1/alerts").status_code == 401
        assert client.get("/v1/alerts", headers={"X-API-Key": ASSIGN}).status_code == 403
        ok = client.get("/v1/alerts", headers={"X-API-Key": READ})
        assert ok.status_code == 200 and len(ok.json()["items"]) == 4


def test_embedded_sqlite_reads_what_the_monitor_stored(tmp_path: Path) -> None:
    settings = Settings(database=DatabaseSettings(home=tmp_path))
    stores = open_stores(settings)
    try:
        seed(stores.alerts)
    finally:
        stores.close()
    with TestClient(create_app(settings, options=OPTIONS)) as client:
        check_filters_and_paging(client)


@pytest.fixture
def pg_schema(pg_url: str) -> Iterator[str]:
    import psycopg

    schema = f"alerts_{uuid.uuid4().hex[:12]}"
    yield schema
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.mark.integration
def test_postgres_store_next_to_the_config_store(pg_url: str, pg_schema: str) -> None:
    settings = Settings(database=DatabaseSettings(url=pg_url))
    stores = open_stores(settings, schema=pg_schema)
    try:
        seed(stores.alerts)
        # no alert_store given: the app reads the alerts of the config store's database
        app = create_app(settings, config_store=stores.config, event_store=stores.events,
                         options=OPTIONS)
        with TestClient(app) as client:
            check_filters_and_paging(client)
    finally:
        stores.close()
