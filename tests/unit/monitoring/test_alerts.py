"""Alert de-duplication, resolution, listing and the memory / SQLite stores."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from abwb.errors import InvalidInput, StorageError
from abwb.monitoring.alerts import (
    Alert,
    AlertStore,
    Evidence,
    Finding,
    MemoryAlertStore,
    list_alerts,
    reconcile,
)
from abwb.monitoring.sinks import alert_payload
from abwb.monitoring.sql_store import SqliteAlertStore

T = datetime(2026, 6, 1, tzinfo=UTC)


def finding(key: str = "srm:e", firing: bool = True, experiment: str | None = "e", **kw: object) -> Finding:
    return Finding(dedup_key=key, firing=firing, kind=kw.pop("kind", "srm"),  # type: ignore[arg-type]
                   severity=kw.pop("severity", "critical"), message=f"{key} fired",  # type: ignore[arg-type]
                   evidence=Evidence(statistic=1.0, threshold=0.001, p_value=1e-5, n={"c": 10, "t": 5}),
                   experiment=experiment, **kw)  # type: ignore[arg-type]


def test_one_open_alert_per_condition_until_it_resolves() -> None:
    first = reconcile([], [finding()], now=T)
    assert [a.dedup_key for a in first.opened] == ["srm:e"]
    opened = first.opened[0]
    assert opened.status == "open" and opened.opened_at == T and opened.experiment == "e"
    # Firing again: no new alert, only a refresh (not delivered again).
    second = reconcile(first.opened, [finding()], now=T + timedelta(minutes=1))
    assert second.opened == [] and second.resolved == []
    assert second.refreshed[0].id == opened.id and second.refreshed[0].last_seen_at == T + timedelta(minutes=1)
    # Not evaluated this pass (no data): untouched.
    assert reconcile(second.refreshed, [], now=T).to_store == []
    # Evaluated and clear: resolved once.
    third = reconcile(second.refreshed, [finding(firing=False)], now=T + timedelta(minutes=2))
    assert [(a.id, a.status, a.resolved_at) for a in third.resolved] == [(opened.id, "resolved", T + timedelta(minutes=2))]
    # Firing after resolution: a new alert with a new id.
    fourth = reconcile([], [finding()], now=T + timedelta(minutes=3))
    assert fourth.opened[0].id != opened.id


def test_retired_subjects_resolve_and_duplicate_findings_are_refused() -> None:
    opened = reconcile([], [finding()], now=T).opened
    assert reconcile(opened, [], now=T, retire_subjects={"e"}).resolved[0].status == "resolved"
    with pytest.raises(InvalidInput, match="dedup_key 'srm:e'"):
        reconcile([], [finding(), finding()], now=T)


def test_clear_findings_without_an_open_alert_do_nothing() -> None:
    assert reconcile([], [finding(firing=False)], now=T).to_store == []


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AlertStore]:
    s: AlertStore = MemoryAlertStore() if request.param == "memory" else SqliteAlertStore(tmp_path / "abwb.db")
    yield s
    s.close()


def _alerts() -> list[Alert]:
    out = []
    for i, (key, exp, ro, kind) in enumerate([("srm:a", "a", None, "srm"), ("guardrail:a:m:t", "a", None, "guardrail"),
                                              ("guardrail:r:m:on", None, "r", "guardrail")]):
        out += reconcile([], [finding(key, experiment=exp, rollout=ro, kind=kind)], now=T + timedelta(minutes=i)).opened
    return out


def test_store_round_trip_filters_and_order(store: AlertStore) -> None:
    alerts = _alerts()
    store.save(alerts)
    assert sorted(a.id for a in store.open_alerts()) == sorted(a.id for a in alerts)
    assert [a.dedup_key for a in list_alerts(store)] == ["guardrail:r:m:on", "guardrail:a:m:t", "srm:a"]
    assert [a.dedup_key for a in list_alerts(store, experiment="a", kind="guardrail")] == ["guardrail:a:m:t"]
    assert [a.dedup_key for a in list_alerts(store, experiment="r")] == ["guardrail:r:m:on"]
    assert list_alerts(store, status="open", limit=1, offset=1)[0].dedup_key == "guardrail:a:m:t"
    # Every field survives the round trip.
    assert {a.id: a for a in list_alerts(store)} == {a.id: a for a in alerts}
    resolved = reconcile([alerts[0]], [finding("srm:a", firing=False, experiment="a")], now=T + timedelta(hours=1)).resolved
    store.save(resolved)
    assert [a.dedup_key for a in list_alerts(store, status="resolved")] == ["srm:a"]
    assert len(store.open_alerts()) == 2


@pytest.mark.parametrize(("kwargs", "path"), [
    ({"status": "closed"}, "status"), ({"kind": "latency"}, "kind"),
    ({"limit": 0}, "limit"), ({"offset": -1}, "offset"),
])
def test_list_alerts_names_the_bad_filter(kwargs: dict[str, object], path: str) -> None:
    with pytest.raises(InvalidInput) as info:
        list_alerts(MemoryAlertStore(), **kwargs)  # type: ignore[arg-type]
    assert info.value.problems[0].path == path


def test_sqlite_enforces_one_open_alert_per_dedup_key(tmp_path: Path) -> None:
    store = SqliteAlertStore(tmp_path / "abwb.db")
    store.save(reconcile([], [finding()], now=T).opened)
    with pytest.raises(StorageError, match="UNIQUE"):
        store.save(reconcile([], [finding()], now=T + timedelta(minutes=5)).opened)
    assert len(store.open_alerts()) == 1
    store.close()


def test_payload_is_json_with_the_event_name() -> None:
    alert = reconcile([], [finding()], now=T).opened[0]
    body = msgspec.json.decode(alert_payload(alert))
    assert body["event"] == "alert.opened"
    assert body["alert"]["evidence"]["p_value"] == 1e-5 and body["alert"]["opened_at"] == "2026-06-01T00:00:00Z"
    resolved = msgspec.structs.replace(alert, status="resolved", resolved_at=T)
    assert msgspec.json.decode(alert_payload(resolved))["event"] == "alert.resolved"
