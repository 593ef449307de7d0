"""AlertStore contract: round trips, updates by identity, filters and order, validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest

from abwb.errors import InvalidInput, StorageError
from abwb.monitoring.alerts import Alert, AlertStore, Evidence, alert_id

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def alert(key: str = "srm:a", minute: int = 0, *, experiment: str | None = "a",
          rollout: str | None = None, kind: str = "srm", **kw: object) -> Alert:
    opened = T0 + timedelta(minutes=minute)
    return Alert(
        id=alert_id(key, opened), dedup_key=key, kind=kind, severity="critical",  # type: ignore[arg-type]
        message=f"{key} fired", opened_at=opened, last_seen_at=opened,
        evidence=Evidence(statistic=-4.25, threshold=0.025, p_value=1e-5, n={"c": 900, "t": 880},
                          effect_rel=-0.1, ci_low_rel=-0.2, ci_high_rel=-0.02,
                          method="asymptotic_cs", details={"expected_c": 890.0}),
        experiment=experiment, rollout=rollout, **kw,  # type: ignore[arg-type]
    )


def three() -> list[Alert]:
    return [alert("srm:a", 0), alert("guardrail:a:m:t", 1, kind="guardrail", metric="m", variant="t"),
            alert("guardrail:r:m:on", 2, experiment=None, rollout="r", kind="guardrail",
                  action="rolled_back")]


def test_an_empty_store_has_no_alerts(alert_store: AlertStore) -> None:
    assert alert_store.open_alerts() == []
    assert alert_store.list() == []


def test_every_field_survives_the_round_trip(alert_store: AlertStore) -> None:
    alerts = three()
    alert_store.save(alerts)
    assert sorted(alert_store.open_alerts(), key=lambda a: a.id) == sorted(alerts, key=lambda a: a.id)
    assert {a.id: a for a in alert_store.list()} == {a.id: a for a in alerts}


def test_saving_again_updates_the_alert_in_place(alert_store: AlertStore) -> None:
    opened = alert()
    alert_store.save([opened])
    refreshed = msgspec.structs.replace(opened, last_seen_at=T0 + timedelta(minutes=5))
    alert_store.save([refreshed])
    assert alert_store.list() == [refreshed]
    resolved = msgspec.structs.replace(refreshed, status="resolved", resolved_at=T0 + timedelta(hours=1))
    alert_store.save([resolved])
    assert alert_store.open_alerts() == []
    assert alert_store.list(status="resolved") == [resolved]
    assert alert_store.list(status="open") == []


def test_list_is_newest_first_and_filters(alert_store: AlertStore) -> None:
    alert_store.save(three())
    keys = lambda rows: [a.dedup_key for a in rows]  # noqa: E731
    assert keys(alert_store.list()) == ["guardrail:r:m:on", "guardrail:a:m:t", "srm:a"]
    assert keys(alert_store.list(experiment="a")) == ["guardrail:a:m:t", "srm:a"]
    assert keys(alert_store.list(experiment="r")) == ["guardrail:r:m:on"]  # rollouts match too
    assert keys(alert_store.list(kind="srm")) == ["srm:a"]
    assert keys(alert_store.list(experiment="a", kind="guardrail")) == ["guardrail:a:m:t"]
    assert keys(alert_store.list(limit=1, offset=1)) == ["guardrail:a:m:t"]
    assert alert_store.list(offset=3) == []


def test_since_keeps_alerts_opened_or_resolved_from_then_on(alert_store: AlertStore) -> None:
    first, second, third = three()
    resolved = msgspec.structs.replace(first, status="resolved", resolved_at=T0 + timedelta(minutes=5))
    alert_store.save([resolved, second, third])
    keys = lambda rows: [a.dedup_key for a in rows]  # noqa: E731
    assert keys(alert_store.list(since=T0 + timedelta(minutes=2))) == ["guardrail:r:m:on", "srm:a"]
    assert keys(alert_store.list(since=T0 + timedelta(minutes=1))) == [
        "guardrail:r:m:on", "guardrail:a:m:t", "srm:a"]
    assert alert_store.list(since=T0 + timedelta(minutes=6)) == []
    # an offset other than UTC compares as the same instant
    plus2 = timezone(timedelta(hours=2))
    assert keys(alert_store.list(since=(T0 + timedelta(minutes=2)).astimezone(plus2))) == [
        "guardrail:r:m:on", "srm:a"]


@pytest.mark.parametrize(("kwargs", "path"), [
    ({"since": datetime(2026, 6, 1)}, "since"),
    ({"status": "closed"}, "status"), ({"kind": "latency"}, "kind"),
    ({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"offset": -1}, "offset"),
])
def test_bad_filters_name_the_field(alert_store: AlertStore, kwargs: dict[str, object], path: str) -> None:
    with pytest.raises(InvalidInput) as info:
        alert_store.list(**kwargs)  # type: ignore[arg-type]
    assert info.value.problems[0].path == path


def test_one_open_alert_per_dedup_key_and_batches_are_atomic(alert_store: AlertStore) -> None:
    first = alert("srm:a", 0)
    alert_store.save([first])
    with pytest.raises(StorageError):
        alert_store.save([alert("srm:b", 1), alert("srm:a", 2)])
    assert alert_store.list() == [first]  # srm:b, saved before the failure, rolled back
