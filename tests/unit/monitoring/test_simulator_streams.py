"""The monitor on streams from ``abwb.simulate`` (real assignment engine, injected faults and effects)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from abwb.config import ConfigBundle, Experiment, Variant
from abwb.config.experiment import ExperimentMetrics
from abwb.config.metric import MetricDefinition
from abwb.monitoring import MemoryAlertStore, Monitor, MonitorConfig, list_alerts
from abwb.simulate import ConversionStream, SimulationConfig, simulate
from abwb.store.memory import MemoryConfigStore

CONV = MetricDefinition(key="conv", kind="binomial", event="buy", window_end_s=1800)
EXP = Experiment(key="checkout", status="running",
                 variants=[Variant("control", 0.5, True), Variant("treatment", 0.5)],
                 metrics=ExperimentMetrics(guardrails=["conv"]))


def _monitor_hour(frame_store: Any, t0: Any, **faults: Any) -> tuple[MemoryAlertStore, Monitor, list[Any]]:
    lift = faults.pop("lift", 0.0)
    sim = simulate(EXP, SimulationConfig(
        users=20_000, start_at=t0, exposure_period_s=3600, seed=11,
        streams=(ConversionStream("buy", rate=0.5, window_s=300, lift={"treatment": lift}),), **faults))
    frame_store.add(sim.exposures, sim.events)
    alerts = MemoryAlertStore()
    monitor = Monitor(MemoryConfigStore(ConfigBundle(experiments=[EXP], metrics=[CONV])), frame_store,
                      alerts, config=MonitorConfig(lateness_s=0, planned_n=20_000))
    reports = [monitor.run_pass(t0 + timedelta(minutes=m)) for m in range(1, 61)]
    return alerts, monitor, reports


def test_simulated_aa_raises_nothing(frame_store: Any, t0: Any) -> None:
    alerts, monitor, reports = _monitor_hour(frame_store, t0)
    assert all(r.ok for r in reports) and sum(r.exposures_read for r in reports) > 19_000
    assert list_alerts(alerts) == []
    # The simulated traffic ends after the hour: the next pass sees the drop.
    report = monitor.run_pass(t0 + timedelta(minutes=61))
    assert [a.dedup_key for a in report.opened] == ["exposure_health:drop:checkout"]


def test_simulated_faults_and_regression_are_each_flagged(frame_store: Any, t0: Any) -> None:
    alerts, monitor, _ = _monitor_hour(frame_store, t0, lift=-0.1, srm_drop={"treatment": 0.18},
                                       crossover_share=0.03)
    # The simulator's second exposures arrive up to a day later: look again then.
    monitor.run_pass(t0 + timedelta(hours=25))
    kinds = {a.dedup_key for a in list_alerts(alerts)}
    assert {"srm:checkout", "crossover:checkout", "guardrail:checkout:conv:treatment"} <= kinds
    (guardrail,) = list_alerts(alerts, kind="guardrail")
    assert guardrail.evidence.effect_rel is not None and -0.2 < guardrail.evidence.effect_rel < 0
