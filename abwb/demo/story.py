"""The demo's story, one step function per chapter, each returning what it really did.

What belongs here: the orchestration behind ``abwb demo`` — persist the demo config
through the ConfigStore, refuse a conflicting experiment, assign sample users, push
simulated traffic through the real engine into the EventStore, compute statistics and
data quality from the *stored* events, analyse with every method, ramp a flag, pull
the kill switch and time it, let the monitor catch an injected regression and roll the
rollout back, and run the papermill readout. Each step takes the
:class:`~abwb.demo.workspace.DemoWorkspace` and the demo clock (time is passed in) and
returns a frozen result the CLI displays and the tests assert on. No printing here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np
import polars as pl

from abwb.assignment.allocation import bucket_counts
from abwb.assignment.conflicts import check_can_start
from abwb.assignment.sticky import StickyAssigner
from abwb.bulk import assign_frame
from abwb.config.bundle import ConfigBundle
from abwb.config.experiment import Experiment
from abwb.demo.scenario import demo_bundle
from abwb.demo.traffic import TrueEffects, experiment_traffic, rollout_minute
from abwb.demo.workspace import DemoWorkspace
from abwb.errors import Conflict
from abwb.metrics.pipeline import statistics_from_store
from abwb.metrics.results import MetricResults
from abwb.simulate.traffic import SimulationResult, append_to_store
from abwb.stats.analysis import AnalysisTable, analyze
from abwb.stats.bayesian import BayesResult
from abwb.stats.frequentist import welch_ttest
from abwb.stats.results import ComparisonResult
from abwb.stats.ship_rule import Guardrail, ShipRule, TreatmentVerdict, decide
from abwb.stats.srm import srm_test
from abwb.stats.summary import MeanStats

if TYPE_CHECKING:
    from abwb.store.protocol import Kind

__all__ = [
    "ACTOR",
    "EXPERIMENT",
    "ROLLOUT",
    "AnalysisResult",
    "AssignmentResult",
    "ConflictResult",
    "FlagResult",
    "MonitorResult",
    "ReadoutStepResult",
    "SetupResult",
    "TrafficResult",
    "analyse_experiment",
    "assign_sample_users",
    "monitor_rollout",
    "persist_config",
    "ramp_and_kill",
    "refuse_conflict",
    "rival_experiment",
    "run_readout_step",
    "simulate_traffic",
]

#: Who the demo's config writes are attributed to in the audit log.
ACTOR = "abwb-demo"
#: The experiment the demo analyses.
EXPERIMENT = "checkout-redesign"
#: The rollout the demo ramps, monitors and rolls back.
ROLLOUT = "express-pay-ramp"
_ORDER = ("segments", "layers", "holdouts", "metrics", "flags", "experiments", "rollouts")
_KIND: dict[str, Kind] = {
    "segments": "segment", "layers": "layer", "holdouts": "holdout", "metrics": "metric",
    "flags": "flag", "experiments": "experiment", "rollouts": "rollout",
}


@dataclass(frozen=True, slots=True)
class SetupResult:
    """The demo config as stored: its version, objects and audit entries."""

    config_version: int
    objects: dict[str, int]
    audit_entries: int
    backend: str


def persist_config(ws: DemoWorkspace, *, bundle: ConfigBundle | None = None) -> SetupResult:
    """Write the demo config through the ConfigStore (one audited write per object).

    Returns:
        The stored config version, objects per kind and the number of audit entries.
    """
    bundle = bundle or demo_bundle()
    counts: dict[str, int] = {}
    for section in _ORDER:
        for obj in getattr(bundle, section):
            ws.config.create(_KIND[section], obj, actor=ACTOR, reason="abwb demo: seed workspace")
        counts[section] = len(getattr(bundle, section))
    version = ws.config.config_version()
    ws.wait_for_version(version)
    return SetupResult(version, counts, len(ws.config.audit(limit=1000)), ws.backend)


def rival_experiment() -> Experiment:
    """A draft experiment that competes with ``checkout-redesign`` for the checkout page."""
    return msgspec.convert({
        "key": "checkout-banner", "name": "Free-shipping banner on checkout",
        "status": "draft", "surfaces": ["checkout"],
        "targeting": {"attr": "country", "op": "in", "value": ["US", "FR"]},
        "layer": {"layer": "checkout-layer", "ranges": [[3000, 9000]]},
        "variants": [{"key": "control", "weight": 0.5, "is_control": True},
                     {"key": "banner", "weight": 0.5}],
    }, Experiment)


@dataclass(frozen=True, slots=True)
class ConflictResult:
    """A refused start: the error message, one reason per conflict, and the stored status."""

    experiment: str
    message: str
    reasons: tuple[str, ...]
    status_after: str


def refuse_conflict(ws: DemoWorkspace) -> ConflictResult:
    """Store the rival as a draft, then try to start it: the overlap check refuses.

    Raises:
        AssertionError: the start was not refused (the demo config is broken).
    """
    rival = ws.config.create("experiment", rival_experiment(), actor=ACTOR,
                             reason="abwb demo: a competing idea")
    running = msgspec.structs.replace(rival, status="running")
    try:
        check_can_start(running, ws.config.load_bundle())
    except Conflict as exc:
        stored = ws.config.get("experiment", rival.key)
        return ConflictResult(rival.key, str(exc), tuple(exc.reasons), stored.status)
    raise AssertionError(f"{rival.key!r} was allowed to start next to {EXPERIMENT!r}")


@dataclass(frozen=True, slots=True)
class AssignmentResult:
    """Sample users' decisions and the measured split over the whole population.

    Attributes:
        sample: ``(unit id, attributes, {experiment: (variant, reason)})`` per user.
        split: One row per experiment × variant: expected share, units, SRM p-value.
        reasons: Experiment → reason → units.
        decisions_per_s: Throughput of the vectorised assignment.
    """

    sample: list[tuple[str, dict[str, Any], dict[str, tuple[str | None, str]]]]
    split: list[dict[str, Any]]
    reasons: dict[str, dict[str, int]]
    decisions_per_s: float


def assign_sample_users(
    ws: DemoWorkspace, population: pl.DataFrame, *, now: datetime, sample_size: int = 8
) -> AssignmentResult:
    """Assign sample users through ``StickyAssigner`` and the population in bulk.

    The sample includes ``qa-alice`` (an override) and a staff account (excluded by the
    ``internal-staff`` segment).
    """
    snapshot = ws.holder.current
    rows = population.head(sample_size).to_dicts()
    people = [(r.pop("unit_id"), r) for r in rows]
    people += [("qa-alice", {"country": "US", "plan": "pro", "app": {"version": "5.0.0"}}),
               ("staff-bob", {"country": "US", "plan": "pro", "app": {"version": "5.0.0"},
                              "email": "bob@abwb.example"})]
    sticky = StickyAssigner(snapshot.assigner, ws.cache)

    async def decide_all() -> list[Any]:
        try:
            return [await sticky.assign(u, now=now, attributes=a) for u, a in people]
        finally:
            await ws.cache.close()

    results = asyncio.run(decide_all())
    sample = [(u, a, {d.experiment: (d.variant, d.reason.value) for d in r.decisions})
              for (u, a), r in zip(people, results, strict=True)]
    split: list[dict[str, Any]] = []
    reasons: dict[str, dict[str, int]] = {}
    started = time.perf_counter()
    experiments = [e for e in snapshot.bundle.experiments if e.status == "running"]
    for exp in experiments:
        out = assign_frame(snapshot.assigner, population, exp.key, now=now)
        reasons[exp.key] = dict(out["reason"].value_counts(sort=True).iter_rows())
        counts = dict(out["variant"].drop_nulls().value_counts().iter_rows())
        weights = {v.key: c / 10_000 for v, c in
                   zip(exp.variants, bucket_counts([v.weight for v in exp.variants]), strict=True)}
        observed = {v.key: int(counts.get(v.key, 0)) for v in exp.variants}
        srm = srm_test(observed, weights)
        total = sum(observed.values())
        for v in exp.variants:
            split.append({"experiment": exp.key, "variant": v.key, "expected": weights[v.key],
                          "measured": observed[v.key] / total if total else float("nan"),
                          "units": observed[v.key], "srm_p_value": srm.p_value})
    elapsed = time.perf_counter() - started
    rate = population.height * len(experiments) / elapsed if elapsed > 0 else float("inf")
    return AssignmentResult(sample, split, reasons, rate)


@dataclass(frozen=True, slots=True)
class TrafficResult:
    """Simulated traffic as stored, and the statistics computed back from the store.

    Attributes:
        users: Users offered the experiment.
        exposed: Users exposed (assigned by the engine).
        exposures_stored: Exposure rows accepted by the EventStore.
        events_stored: Event rows accepted by the EventStore.
        statistics: Per-variant sufficient statistics and data quality (from the store).
        effects: The true effects simulated.
        seconds: Wall time of simulation + ingestion + pipeline.
    """

    users: int
    exposed: int
    exposures_stored: int
    events_stored: int
    statistics: MetricResults
    effects: TrueEffects
    seconds: float


def simulate_traffic(
    ws: DemoWorkspace, population: pl.DataFrame, *, now: datetime,
    effects: TrueEffects | None = None,
) -> TrafficResult:
    """Run the population through the real engine into the EventStore, then measure.

    Users arrive over the 10 days ending four days before ``now``; purchases follow
    within three days, so every window is complete by ``now``.
    """
    started = time.perf_counter()
    effects = effects or TrueEffects()
    snapshot = ws.holder.current
    exp = snapshot.bundle.experiment(EXPERIMENT)
    assert exp is not None
    assigned, exposures, events = experiment_traffic(
        snapshot.assigner, exp, population, start_at=now - timedelta(days=14), exposure_days=10,
        effects=effects, config_version=snapshot.version)
    stored_exp, stored_ev = append_to_store(
        SimulationResult(exposures=exposures, events=events, assignments=assigned), ws.events)
    bundle = ws.config.load_bundle()
    exp_now = bundle.experiment(EXPERIMENT)
    assert exp_now is not None
    metrics = [*exp_now.metrics.primary, *exp_now.metrics.secondary, *exp_now.metrics.guardrails]
    statistics = statistics_from_store(ws.events, metrics, experiment=exp_now,
                                       catalog=bundle.metrics, as_of=now)
    return TrafficResult(population.height, exposures.height, stored_exp.accepted,
                         stored_ev.accepted, statistics, effects, time.perf_counter() - started)


@dataclass(frozen=True, slots=True)
class AnalysisResult:
    """Every engine's answer for every metric × treatment, and the decision.

    Attributes:
        frequentist: ``analyze`` with the frequentist engine (two-proportion z, CUPED
            Welch, Welch, delta-method z; Holm).
        unadjusted_revenue: Welch t on revenue without CUPED (to show the variance cut).
        sequential: Always-valid confidence sequences per metric × treatment.
        bayesian: Conjugate results per metric × treatment (``metric, treatment, result``).
        decisions: The ship rule's verdict per treatment.
        rule: The pre-registered ship rule.
        models: Optional PyMC results (``--bayes-models``).
    """

    frequentist: AnalysisTable
    unadjusted_revenue: dict[str, ComparisonResult]
    sequential: list[ComparisonResult]
    bayesian: list[tuple[str, str, BayesResult]]
    decisions: tuple[TreatmentVerdict, ...]
    rule: ShipRule
    models: list[tuple[str, Any]] = field(default_factory=list)


def analyse_experiment(
    statistics: MetricResults, bundle: ConfigBundle, *, planned_n: int = 40_000,
    bayes_models: bool = False,
) -> AnalysisResult:
    """Analyse the stored experiment with every engine and apply the ship rule.

    Every method comes from the registry (``abwb.stats.methods``) through ``analyze``
    by the metric definitions' kinds; the verdicts from ``abwb.stats.ship_rule``.
    """
    exp = bundle.experiment(statistics.experiment)
    assert exp is not None
    control = next(v.key for v in exp.variants if v.is_control)
    definitions = {m.key: m for m in bundle.metrics}
    stats = {k: dict(v) for k, v in statistics.statistics.items()}
    kinds = {key: definitions[key].kind for key in stats}
    table = analyze(stats, control=control, kinds=kinds)
    sequential = analyze(stats, control=control, kinds=kinds, engine="sequential",
                         planned_n=planned_n)
    bayesian = analyze(stats, control=control, kinds=kinds, engine="bayesian")
    treatments = [v.key for v in exp.variants if not v.is_control]
    revenue = {v: s for v, s in stats.get("revenue", {}).items() if isinstance(s, MeanStats)}
    unadjusted = {t: welch_ttest(revenue[control], revenue[t]) for t in treatments
                  if control in revenue and t in revenue}
    primary = definitions[exp.metrics.primary[0]]
    rule = ShipRule(primary.key, primary.direction,
                    tuple(Guardrail.of(definitions[g]) for g in exp.metrics.guardrails))
    srm = statistics.quality.srm
    untrusted = ((f"sample ratio mismatch (p={srm.p_value:.2g}); results are not trustworthy",)
                 if srm is not None and srm.alert else ())
    decision = decide(table, rule, untrusted=untrusted)
    models = _pymc(stats, control, treatments) if bayes_models else []
    return AnalysisResult(
        table, unadjusted,
        [r for r in sequential if isinstance(r, ComparisonResult)],
        [(r.metric, r.treatment, r) for r in bayesian if isinstance(r, BayesResult)],
        decision.treatments, rule, models)


def _pymc(stats: dict[str, Any], control: str, treatments: Sequence[str]) -> list[tuple[str, Any]]:
    from abwb.stats.models import fit_hierarchical

    purchase = stats["purchase"]
    arms = [control, *treatments]
    return [("purchase", fit_hierarchical({a: purchase[a] for a in arms}, control=control))]


@dataclass(frozen=True, slots=True)
class FlagResult:
    """The rollout ramp, sample evaluations, and the timed kill switch.

    Attributes:
        ramp: ``(at, step, fraction, status, share of 2,000 users with the flag on)``.
        evaluations: ``(unit, value, variation, reason)`` at 50 %.
        killed_value: What the snapshot served right after the kill (value, reason).
        kill_to_served_ms: Time from the kill-switch write to the snapshot serving off.
        kill_audit: The audit entry of the kill.
        revived_version: Config version after the switch was turned back on.
    """

    ramp: list[tuple[datetime, int, float, str, float]]
    evaluations: list[tuple[str, Any, str | None, str]]
    killed_value: tuple[Any, str]
    kill_to_served_ms: float
    kill_audit: str
    revived_version: int


def ramp_and_kill(ws: DemoWorkspace, *, now: datetime) -> FlagResult:
    """Start the rollout, watch it advance with the clock, then pull and release the kill switch."""
    from abwb.flags.switch import kill, revive
    from abwb.rollout import rollout_state, start

    rollout = ws.config.get("rollout", ROLLOUT)
    started = start(rollout, now)
    ws.config.update("rollout", started, expected_version=rollout.version, actor=ACTOR,
                     reason="abwb demo: start the staged release")
    ws.wait_for_version(ws.config.config_version())
    snapshot = ws.holder.current
    flag_key = started.flag_key
    units = [f"shopper-{i:07d}" for i in range(2_000)]
    ramp: list[tuple[datetime, int, float, str, float]] = []
    for day in range(5):
        at = now + timedelta(days=day, hours=1)
        state = rollout_state(started, at)
        on = sum(snapshot.flags.evaluate(flag_key, u, {}, at).variation == started.variation
                 for u in units)
        ramp.append((at, state.step_index, state.traffic_fraction, state.status, on / len(units)))
    at = now + timedelta(days=3, hours=1)
    evaluations = []
    for u in units[:6]:
        e = snapshot.flags.evaluate(flag_key, u, {}, at)
        evaluations.append((u, e.value, e.variation, str(e.reason.value)))
    t0 = time.perf_counter()
    kill(ws.config, flag_key, actor=ACTOR, reason="abwb demo: incident drill")
    ws.wait_for_version(ws.config.config_version())
    served = ws.holder.current.flags.evaluate(flag_key, units[0], {}, at)
    elapsed_ms = (time.perf_counter() - t0) * 1000
    entry = ws.config.audit(kind="flag", key=flag_key, limit=1)[0]
    revive(ws.config, flag_key, actor=ACTOR, reason="abwb demo: drill over")
    revived = ws.config.config_version()
    ws.wait_for_version(revived)
    return FlagResult(ramp, evaluations, (served.value, str(served.reason.value)), elapsed_ms,
                      f"{entry.actor} {entry.action} flag {entry.key}: {entry.reason} "
                      f"(config v{entry.config_version})", revived)


@dataclass(frozen=True, slots=True)
class MonitorResult:
    """The monitor's passes over the regressed rollout and what it did.

    Attributes:
        minutes: Simulated minutes until the rollback (or the limit).
        exposures: Rollout exposures logged.
        alert: The guardrail alert (``None`` if it never fired).
        other_alerts: Kinds of the other alerts opened (``kind:subject``).
        rollout_status: The stored rollout status afterwards.
        status_reason: Why it changed.
        audit: The monitor's audit entry (``None`` without a rollback).
    """

    minutes: int
    exposures: int
    alert: Any
    other_alerts: list[str]
    rollout_status: str
    status_reason: str
    audit: str | None


def monitor_rollout(
    ws: DemoWorkspace, *, now: datetime, units_per_minute: int = 300, max_minutes: int = 60,
    error_rate: dict[Any, float] | None = None, seed: int = 5,
) -> MonitorResult:
    """Send traffic through the rollout at 50 % with more checkout errors for the feature.

    One monitor pass per simulated minute (the clock passed in); stops at the first action.
    """
    from abwb.monitoring import Monitor, MonitorConfig

    rates = error_rate or {"on": 0.05, "off": 0.02}
    rollout = ws.config.get("rollout", ROLLOUT)
    monitor = Monitor(ws.config, ws.events, ws.alerts, sinks=[],
                      config=MonitorConfig(lateness_s=0, planned_n=20_000))
    rng = np.random.default_rng(seed)
    t = now + timedelta(days=3, hours=1)
    opened, exposures, minutes = [], 0, 0
    for minute in range(max_minutes):
        snapshot = ws.holder.current
        exp_rows, ev_rows = rollout_minute(
            snapshot.flags, ROLLOUT, rollout.flag_key, minute_start=t + timedelta(minutes=minute),
            units=units_per_minute, error_rate=rates, config_version=snapshot.version, rng=rng,
            offset=minute * units_per_minute)
        append_to_store(SimulationResult(exp_rows, ev_rows, exp_rows), ws.events)
        exposures += exp_rows.height
        report = monitor.run_pass(t + timedelta(minutes=minute + 1))
        opened += report.opened
        minutes = minute + 1
        if report.actions:
            break
    stored = ws.config.get("rollout", ROLLOUT)
    guard = next((a for a in opened if a.kind == "guardrail" and a.rollout == ROLLOUT), None)
    entries = [e for e in ws.config.audit(kind="rollout", key=ROLLOUT, limit=5)
               if e.after is not None and e.after.get("status") == "rolled_back"]
    audit = (f"{entries[0].actor} {entries[0].action} rollout {ROLLOUT}: {entries[0].reason}"
             if entries else None)
    others = [f"{a.kind}:{a.experiment or a.rollout}" for a in opened if a is not guard]
    return MonitorResult(minutes, exposures, guard, others, stored.status, stored.status_reason,
                         audit)


@dataclass(frozen=True, slots=True)
class ReadoutStepResult:
    """Where the readout went: the HTML report (``None`` when not rendered) and results.json."""

    html: Any
    results: Any
    headline: str
    seconds: float
    note: str = ""


def run_readout_step(ws: DemoWorkspace, *, as_of: date, notebook: bool = True) -> ReadoutStepResult:
    """Run the papermill readout of the experiment (HTML + results.json).

    With ``notebook=False`` the readout is built in-process and only ``results.json``
    is written.
    """
    from abwb.readout import build_readout, report_dir, run_readout, write_results

    started = time.perf_counter()
    if notebook:
        settings = ws.settings
        if ws.schema is not None:
            settings = dataclasses.replace(
                settings, database=dataclasses.replace(settings.database, schema=ws.schema)
            )
        run = run_readout(EXPERIMENT, settings=settings, today=as_of, as_of=as_of)
        return ReadoutStepResult(run.html, run.results, run.readout.decision.headline,
                             time.perf_counter() - started)
    readout = build_readout((ws.config, ws.events), EXPERIMENT, as_of=as_of)
    directory = report_dir(ws.settings.analysis.reports_dir, EXPERIMENT, as_of)
    directory.mkdir(parents=True, exist_ok=True)
    results = write_results(readout, directory / "results.json")
    note = "notebook skipped (--no-notebook)"
    return ReadoutStepResult(None, results, readout.decision.headline,
                         time.perf_counter() - started, note)

