"""The monitoring job end to end over the real stores' contract: SRM, regression rollback,
de-duplication, resolution, auto-pause, and surviving store outages without losing rows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest

from abwb.config import ConfigBundle, Experiment, Variant
from abwb.config.experiment import ExperimentMetrics
from abwb.config.flag import Flag
from abwb.config.metric import MetricDefinition
from abwb.config.rollout import Rollout, RolloutStep
from abwb.errors import StorageError
from abwb.monitoring import ACTOR, MemoryAlertStore, Monitor, MonitorConfig, list_alerts
from abwb.monitoring.alerts import Alert
from abwb.monitoring.sinks import DeliveryResult
from abwb.store.memory import MemoryConfigStore

CONV = MetricDefinition(key="conv", kind="binomial", event="buy")
Stream = Callable[..., tuple[pl.DataFrame, pl.DataFrame]]


class RecordingSink:
    name = "recording"

    def __init__(self) -> None:
        self.sent: list[Alert] = []

    def send(self, alert: Alert) -> DeliveryResult:
        self.sent.append(alert)
        return DeliveryResult(self.name, alert.id, True)

    def close(self) -> None:
        pass


def experiment(**kw: Any) -> Experiment:
    return Experiment(key="exp", status="running", variants=[Variant("c", 0.5, True), Variant("t", 0.5)],
                      metrics=ExperimentMetrics(guardrails=["conv"]), **kw)


def run_minutes(monitor: Monitor, store: Any, stream: Stream, t0: datetime, minutes: range, *,
                seed: int = 0, stop_when: Callable[[Any], bool] | None = None, **kw: Any) -> list[Any]:
    rng = np.random.default_rng(seed)
    reports = []
    for minute in minutes:
        store.add(*stream(rng, minute=minute, **kw))
        reports.append(monitor.run_pass(t0 + timedelta(minutes=minute + 1)))
        if stop_when is not None and stop_when(reports[-1]):
            break
    return reports


def test_injected_55_45_split_raises_one_srm_alert(frame_store: Any, stream: Stream, t0: datetime) -> None:
    config_store = MemoryConfigStore(ConfigBundle(experiments=[experiment()], metrics=[CONV]))
    alerts, sink = MemoryAlertStore(), RecordingSink()
    monitor = Monitor(config_store, frame_store, alerts, sinks=[sink], config=MonitorConfig(lateness_s=0))
    reports = run_minutes(monitor, frame_store, stream, t0, range(15), experiment="exp", units=400,
                          variants=["c", "t"], shares=[0.55, 0.45], conversion={"c": 0.2, "t": 0.2})
    assert all(r.ok for r in reports)
    srm = [a for a in sink.sent if a.kind == "srm"]
    assert len(srm) == 1, "de-duplicated: delivered once although it fires every pass"
    (stored,) = list_alerts(alerts, kind="srm")
    assert stored.status == "open" and stored.last_seen_at == reports[-1].at
    assert stored.evidence.p_value is not None and stored.evidence.p_value < 0.001
    assert sum(stored.evidence.n.values()) == 15 * 400
    assert config_store.get("experiment", "exp").status == "running"  # auto-pause is off by default
    assert not [a for a in sink.sent if a.kind == "guardrail"]


def test_severe_srm_pauses_the_experiment_when_configured(frame_store: Any, stream: Stream, t0: datetime) -> None:
    config_store = MemoryConfigStore(ConfigBundle(experiments=[experiment()], metrics=[CONV]))
    alerts = MemoryAlertStore()
    monitor = Monitor(config_store, frame_store, alerts,
                      config=MonitorConfig(lateness_s=0, pause_on_srm=True, srm_pause_p=1e-6))
    reports = run_minutes(monitor, frame_store, stream, t0, range(20), experiment="exp", units=400,
                          variants=["c", "t"], shares=[0.6, 0.4], conversion={"c": 0.2, "t": 0.2},
                          stop_when=lambda r: bool(r.actions))
    assert reports[-1].actions == ["paused experiment:exp"]
    assert config_store.get("experiment", "exp").status == "paused"
    entry = config_store.audit(kind="experiment", key="exp", limit=1)[0]
    assert entry.actor == ACTOR and "srm:exp" in entry.reason and "p=" in entry.reason
    (alert,) = list_alerts(alerts, kind="srm")
    assert alert.action == "paused"


def rollout_bundle(auto_rollback: bool = True) -> ConfigBundle:
    flag = Flag(key="new-checkout", type="bool", variations={"on": True, "off": False},
                default_variation="off", off_variation="off")
    rollout = Rollout(key="checkout-ramp", flag_key="new-checkout", variation="on", status="active",
                      started_at=datetime(2026, 6, 1, tzinfo=__import__("datetime").UTC),
                      steps=[RolloutStep(traffic_fraction=0.5)], guardrails=["conv"], auto_rollback=auto_rollback)
    return ConfigBundle(flags=[flag], rollouts=[rollout], metrics=[CONV])


def test_injected_10pct_regression_is_detected_and_rolled_back(frame_store: Any, stream: Stream, t0: datetime) -> None:
    config_store = MemoryConfigStore(rollout_bundle())
    alerts, sink = MemoryAlertStore(), RecordingSink()
    monitor = Monitor(config_store, frame_store, alerts, sinks=[sink],
                      config=MonitorConfig(lateness_s=0, planned_n=10_000))
    reports = run_minutes(monitor, frame_store, stream, t0, range(60), experiment="checkout-ramp", units=300,
                          variants=["control", "on"], shares=[0.5, 0.5], conversion={"control": 0.5, "on": 0.45},
                          stop_when=lambda r: bool(r.actions))
    assert reports[-1].actions == ["rolled_back rollout:checkout-ramp"], "regression not detected in 60 minutes"
    minutes = len(reports)
    print(f"\n10% regression (0.50 -> 0.45, 300 units/min) detected and rolled back after {minutes} min")
    rollout = config_store.get("rollout", "checkout-ramp")
    assert rollout.status == "rolled_back" and "guardrail:checkout-ramp:conv:on" in rollout.status_reason
    entry = config_store.audit(kind="rollout", key="checkout-ramp", limit=1)[0]
    assert entry.actor == ACTOR and entry.after is not None and entry.after["status"] == "rolled_back"
    (alert,) = [a for a in sink.sent if a.kind == "guardrail"]
    assert alert.rollout == "checkout-ramp" and alert.action == "rolled_back" and alert.severity == "critical"
    assert alert.evidence.effect_rel is not None and alert.evidence.effect_rel < 0
    assert alert.evidence.ci_high_rel is not None and alert.evidence.ci_high_rel < 0
    # The rolled-back rollout is no longer monitored; its alert (with the action) stays for people to see.
    after = monitor.run_pass(reports[-1].at + timedelta(minutes=1))
    assert after.subjects == 0 and list_alerts(alerts, status="open", kind="guardrail") != []


def test_regression_without_auto_rollback_only_alerts(frame_store: Any, stream: Stream, t0: datetime) -> None:
    config_store = MemoryConfigStore(rollout_bundle(auto_rollback=False))
    monitor = Monitor(config_store, frame_store, MemoryAlertStore(), config=MonitorConfig(lateness_s=0, planned_n=10_000))
    reports = run_minutes(monitor, frame_store, stream, t0, range(60), experiment="checkout-ramp", units=300,
                          variants=["control", "on"], shares=[0.5, 0.5], conversion={"control": 0.5, "on": 0.4},
                          stop_when=lambda r: any(a.kind == "guardrail" for a in r.opened))
    assert any(a.kind == "guardrail" for a in reports[-1].opened)
    assert config_store.get("rollout", "checkout-ramp").status == "active"
    assert all(not r.actions for r in reports)


def test_exposure_drop_opens_then_resolves(frame_store: Any, stream: Stream, t0: datetime) -> None:
    config_store = MemoryConfigStore(ConfigBundle(experiments=[experiment()], metrics=[CONV]))
    alerts, sink = MemoryAlertStore(), RecordingSink()
    monitor = Monitor(config_store, frame_store, alerts, sinks=[sink], config=MonitorConfig(lateness_s=0))
    kw = dict(experiment="exp", variants=["c", "t"], shares=[0.5, 0.5], conversion={"c": 0.2, "t": 0.2})
    run_minutes(monitor, frame_store, stream, t0, range(8), units=300, **kw)
    (drop,) = run_minutes(monitor, frame_store, stream, t0, range(8, 9), units=20, seed=1, **kw)
    assert [a.dedup_key for a in drop.opened] == ["exposure_health:drop:exp"]
    assert "expected 300" in drop.opened[0].message
    (back,) = run_minutes(monitor, frame_store, stream, t0, range(9, 10), units=300, seed=2, **kw)
    assert [a.dedup_key for a in back.resolved] == ["exposure_health:drop:exp"]
    assert [(a.kind, a.status) for a in sink.sent] == [("exposure_health", "open"), ("exposure_health", "resolved")]


def test_event_store_outage_loses_nothing(frame_store: Any, stream: Stream, t0: datetime, flaky: Any) -> None:
    bundle = ConfigBundle(experiments=[experiment()], metrics=[CONV])
    broken = flaky(frame_store)
    steady = Monitor(MemoryConfigStore(bundle), frame_store, MemoryAlertStore(), config=MonitorConfig(lateness_s=0))
    faulty = Monitor(MemoryConfigStore(bundle), broken, MemoryAlertStore(), config=MonitorConfig(lateness_s=0))
    rng = np.random.default_rng(3)
    for minute in range(6):
        frame_store.add(*stream(rng, experiment="exp", minute=minute, units=200, variants=["c", "t"],
                                shares=[0.5, 0.5], conversion={"c": 0.3, "t": 0.3}))
        now = t0 + timedelta(minutes=minute + 1)
        steady.run_pass(now)
        broken.down = minute in (2, 3)
        before = faulty.states.get("experiment:exp")
        report = faulty.run_pass(now)
        if broken.down:
            assert not report.ok and "keep their watermark and retry next pass" in report.errors[0]
            assert faulty.states["experiment:exp"].watermark == before.watermark  # type: ignore[union-attr]
        else:
            assert report.ok
    a, b = steady.states["experiment:exp"], faulty.states["experiment:exp"]
    assert b.stats == a.stats and b.counts == a.counts and b.watermark == a.watermark
    assert sum(b.counts.values()) == 6 * 200


class FailingAlertStore(MemoryAlertStore):
    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def save(self, alerts: Any) -> None:
        if self.down:
            raise StorageError("alert store unavailable")
        super().save(alerts)


def test_alert_and_config_store_outages_are_reported_and_recovered(frame_store: Any, stream: Stream, t0: datetime) -> None:
    config_store = MemoryConfigStore(ConfigBundle(experiments=[experiment()], metrics=[CONV]))
    alerts = FailingAlertStore()
    alerts.down = True
    monitor = Monitor(config_store, frame_store, alerts, config=MonitorConfig(lateness_s=0))
    kw = dict(experiment="exp", units=400, variants=["c", "t"], shares=[0.6, 0.4], conversion={"c": 0.2, "t": 0.2})
    reports = run_minutes(monitor, frame_store, stream, t0, range(5), **kw)
    assert any("storing alerts failed" in e for r in reports for e in r.errors)
    assert list_alerts(alerts) == []
    alerts.down = False
    (report,) = run_minutes(monitor, frame_store, stream, t0, range(5, 6), seed=9, **kw)
    assert report.ok and [a.kind for a in report.opened] == ["srm"]

    class DownConfig:
        def load_bundle(self) -> Any:
            raise StorageError("config store unavailable")

    monitor.config_store = DownConfig()
    report = monitor.run_pass(t0 + timedelta(minutes=7))
    assert report.errors == ["loading config failed: config store unavailable"]


def test_stopped_experiments_resolve_their_alerts(frame_store: Any, stream: Stream, t0: datetime) -> None:
    config_store = MemoryConfigStore(ConfigBundle(experiments=[experiment()], metrics=[CONV]))
    alerts = MemoryAlertStore()
    monitor = Monitor(config_store, frame_store, alerts, config=MonitorConfig(lateness_s=0))
    run_minutes(monitor, frame_store, stream, t0, range(10), experiment="exp", units=400,
                variants=["c", "t"], shares=[0.6, 0.4], conversion={"c": 0.2, "t": 0.2})
    assert [a.kind for a in list_alerts(alerts, status="open")] == ["srm"]
    exp = config_store.get("experiment", "exp")
    import msgspec

    config_store.update("experiment", msgspec.structs.replace(exp, status="stopped"),
                        expected_version=exp.version, actor="me")
    report = monitor.run_pass(t0 + timedelta(minutes=12))
    assert [a.kind for a in report.resolved] == ["srm"] and monitor.states == {}


def test_lateness_leaves_recent_rows_for_the_next_pass(frame_store: Any, stream: Stream, t0: datetime) -> None:
    config_store = MemoryConfigStore(ConfigBundle(experiments=[experiment()], metrics=[CONV]))
    monitor = Monitor(config_store, frame_store, MemoryAlertStore(), config=MonitorConfig(lateness_s=120))
    rng = np.random.default_rng(0)
    frame_store.add(*stream(rng, experiment="exp", minute=0, units=100, variants=["c", "t"],
                            shares=[0.5, 0.5], conversion={"c": 0.2, "t": 0.2}))
    assert monitor.run_pass(t0 + timedelta(minutes=1)).exposures_read == 0
    assert monitor.run_pass(t0 + timedelta(minutes=3)).exposures_read == 100
    assert monitor.run_pass(t0 + timedelta(minutes=4)).exposures_read == 0


@pytest.mark.parametrize("every", [0.01])
def test_run_forever_stops_cleanly(frame_store: Any, every: float) -> None:
    import threading

    monitor = Monitor(MemoryConfigStore(ConfigBundle()), frame_store, MemoryAlertStore())
    stop = threading.Event()
    seen: list[Any] = []

    def on_pass(report: Any) -> None:
        seen.append(report)
        if len(seen) == 3:
            stop.set()

    assert monitor.run_forever(every, stop=stop, on_pass=on_pass) == 3
