"""The monitoring job: one pass over every running experiment and active rollout, or a loop.

What belongs here: :class:`Monitor` (reads new rows since each subject's
watermark, folds them into pooled statistics, runs the checks, reconciles alerts,
stores and delivers them, and takes guarded actions), :class:`PassReport`, and the
loop with clean shutdown. The checks are in :mod:`abwb.monitoring.checks`, the
actions in :mod:`abwb.monitoring.actions`.

Failure behaviour. A store failure while reading (config or events) leaves the
affected subjects' state and watermarks untouched: the pass reports the error and
the next pass reads the same rows again, so nothing is lost or counted twice. A
failure to store alerts is reported; the conditions are recomputed from the pooled
state next pass, so they open then. Sink failures are reported and never stop a pass.
The state lives in memory: after a restart the first pass rebuilds it from the
full history. With a warehouse (``Monitor(..., warehouse=...)``) each pass recomputes
every subject's statistics there instead (:mod:`abwb.monitoring.warehouse`); a
warehouse failure keeps the previous states and is reported like a read failure.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec
import polars as pl

from abwb.errors import AbwbError, StorageError
from abwb.events.frames import events_frame
from abwb.monitoring.accumulator import SubjectSpec, SubjectState, accumulate, subjects_from_bundle
from abwb.monitoring.actions import pause_experiment, roll_back_rollout
from abwb.monitoring.alerts import Alert, AlertStore, Finding, reconcile
from abwb.monitoring.checks import (
    check_crossover,
    check_exposure_health,
    check_guardrails,
    check_significance,
    check_srm,
)
from abwb.monitoring.config import MonitorConfig
from abwb.monitoring.sinks import AlertSink, DeliveryResult, deliver

if TYPE_CHECKING:
    from abwb.metrics import WarehouseSource

__all__ = ["ACTOR", "Monitor", "PassReport"]

#: Actor recorded in the audit log for the monitor's own changes.
ACTOR = "abwb-monitor"
_log = logging.getLogger("abwb.monitoring")


@dataclass(slots=True)
class PassReport:
    """What one pass did.

    Args:
        at: Time of the pass.
        subjects: Subjects monitored.
        exposures_read: Exposure rows read (with a warehouse: new exposure rows counted
            there; none are read).
        events_read: Event rows read.
        findings: Findings produced.
        opened: Alerts opened.
        resolved: Alerts resolved.
        actions: Actions taken (``rolled_back rollout:x``, ``paused experiment:y``).
        errors: Problems met (store outage, failed action); the pass carried on.
        deliveries: Sink delivery results.
        duration_s: Wall time of the pass.
    """

    at: datetime
    subjects: int = 0
    exposures_read: int = 0
    events_read: int = 0
    findings: int = 0
    opened: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    deliveries: list[DeliveryResult] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        """No error was met."""
        return not self.errors

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return (
            f"{self.at.isoformat()} monitored {self.subjects} subject(s): "
            f"{self.exposures_read} exposures, {self.events_read} events read; "
            f"{len(self.opened)} alert(s) opened, {len(self.resolved)} resolved, "
            f"{len(self.actions)} action(s), {len(self.errors)} error(s) "
            f"in {self.duration_s:.2f}s"
        )


class Monitor:
    """Incremental monitoring of running experiments and active rollouts.

    Args:
        config_store: Where experiments/rollouts/metrics are read and actions written.
        event_store: Exposures and events.
        alert_store: Where alerts are kept.
        sinks: Where opened/resolved alerts are delivered.
        config: Thresholds and switches.
        actor: Audit actor of the monitor's own changes.
        warehouse: Compute the statistics where the exposures and events are
            (:mod:`abwb.monitoring.warehouse`: the metric pipeline's SQL, every pass from
            all rows) instead of reading new rows from ``event_store``.
    """

    def __init__(
        self,
        config_store: Any,
        event_store: Any,
        alert_store: AlertStore,
        *,
        sinks: Sequence[AlertSink] = (),
        config: MonitorConfig | None = None,
        actor: str = ACTOR,
        warehouse: WarehouseSource | None = None,
    ) -> None:
        self.config_store = config_store
        self.event_store = event_store
        self.alert_store = alert_store
        self.sinks = list(sinks)
        self.config = config or MonitorConfig()
        self.actor = actor
        self.warehouse = warehouse
        self.states: dict[str, SubjectState] = {}

    def run_pass(self, now: datetime) -> PassReport:
        """Run one monitoring pass at ``now`` (timezone-aware UTC).

        Args:
            now: Time of the pass; rows up to ``now - lateness_s`` are read.

        Returns:
            What happened; errors are reported in it, not raised.
        """
        started = time.perf_counter()
        report = PassReport(at=now)
        try:
            bundle = self.config_store.load_bundle()
        except AbwbError as exc:
            report.errors.append(f"loading config failed: {exc}")
            report.duration_s = time.perf_counter() - started
            return report
        specs = subjects_from_bundle(bundle)
        report.subjects = len(specs)
        until = now - timedelta(seconds=self.config.lateness_s)
        new_states = self._fold(specs, until, now, report)
        findings: list[Finding] = []
        for spec in specs:
            state = new_states.get(_state_key(spec))
            if state is not None:
                found, new_states[_state_key(spec)] = self._check(spec, state, now)
                findings += found
        report.findings = len(findings)
        actions = self._act(specs, findings, bundle, now, report)
        self._alert(specs, findings, actions, now, report)
        # Keep only subjects still monitored; failed reads keep their old state.
        self.states = {k: v for k, v in {**self.states, **new_states}.items()
                       if k in {_state_key(s) for s in specs}}
        report.duration_s = time.perf_counter() - started
        return report

    def _fold(
        self, specs: Sequence[SubjectSpec], until: datetime, now: datetime, report: PassReport
    ) -> dict[str, SubjectState]:
        """Read new rows per watermark group and fold them into each subject's state."""
        if self.warehouse is not None:
            return self._recount(specs, until, now, report)
        states: dict[str, SubjectState] = {}
        groups: dict[datetime | None, list[tuple[SubjectSpec, SubjectState]]] = {}
        for spec in specs:
            state = self.states.get(_state_key(spec))
            if state is None or state.metric_keys != tuple(m.key for m in spec.metrics):
                state = SubjectState.empty(spec, now=now)
            if state.watermark is not None and state.watermark >= until:
                states[_state_key(spec)] = state
                continue
            groups.setdefault(state.watermark, []).append((spec, state))
        for watermark, members in groups.items():
            try:
                exposures, events = self._read(watermark, until, [s for s, _ in members])
            except StorageError as exc:
                report.errors.append(
                    f"reading rows since {watermark} failed ({len(members)} subject(s) "
                    f"keep their watermark and retry next pass): {exc}"
                )
                continue
            report.exposures_read += exposures.height
            report.events_read += events.height
            by_subject = exposures.partition_by("experiment", as_dict=True, maintain_order=False)
            empty = exposures.clear()
            duration_s = (until - watermark).total_seconds() if watermark is not None else 0.0
            mine = [by_subject.get((spec.ref.key,), empty) for spec, _ in members]
            routed = _route_events(events, [st for _, st in members], mine)
            for (spec, state), own, own_events in zip(members, mine, routed, strict=True):
                new_state = accumulate(
                    spec, state, exposures=own, events=own_events, until=until,
                    duration_s=duration_s, trailing_passes=self.config.trailing_passes,
                )
                if watermark is None:
                    # A back-fill covers all history: not a rate sample.
                    new_state = _drop_last_trailing(new_state)
                states[_state_key(spec)] = new_state
        return states

    def _recount(
        self, specs: Sequence[SubjectSpec], until: datetime, now: datetime, report: PassReport
    ) -> dict[str, SubjectState]:
        """Every subject's state recomputed in the warehouse (only aggregates come back)."""
        from abwb.monitoring.warehouse import warehouse_states

        assert self.warehouse is not None
        members = []
        for spec in specs:
            state = self.states.get(_state_key(spec))
            if state is None or state.metric_keys != tuple(m.key for m in spec.metrics):
                state = SubjectState.empty(spec, now=now)
            members.append((spec, state))
        try:
            fresh = warehouse_states(self.warehouse, members, until=until,
                                     trailing_passes=self.config.trailing_passes)
        except AbwbError as exc:
            report.errors.append(f"computing statistics in the warehouse failed ({len(members)} "
                                 f"subject(s) keep their state and retry next pass): {exc}")
            return {}
        for (_, old), new in zip(members, fresh, strict=True):
            report.exposures_read += new.exposures_total - old.exposures_total
        return {_state_key(spec): state for (spec, _), state in zip(members, fresh, strict=True)}

    def _read(
        self, watermark: datetime | None, until: datetime, specs: Sequence[SubjectSpec]
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        experiment = specs[0].ref.key if len(specs) == 1 else None
        exposures = self.event_store.read_exposures(
            experiment=experiment, since=watermark, until=until
        )
        names = sorted(set().union(*(s.event_names for s in specs)))
        if names:
            events = self.event_store.read_events(names=names, since=watermark, until=until)
        else:
            events = events_frame([])
        return exposures, events

    def _check(
        self, spec: SubjectSpec, state: SubjectState, now: datetime
    ) -> tuple[list[Finding], SubjectState]:
        config = self.config
        ref = spec.ref
        findings: list[Finding] = []
        if spec.weights is not None:
            srm, result = check_srm(ref, state.counts, spec.weights, config=config,
                                    previous=state.srm)
            state = replace(state, srm=result)
            if srm is not None:
                findings.append(srm)
            crossover = check_crossover(ref, crossed=state.crossed, units=state.total_units,
                                        config=config)
            if crossover is not None:
                findings.append(crossover)
        if state.trailing:
            current_count, current_s = state.trailing[-1]
            findings += check_exposure_health(
                ref, now=now, watching_since=state.watching_since or now,
                last_exposure_at=state.last_exposure_at, current_count=current_count,
                current_duration_s=current_s, trailing=state.trailing[:-1], config=config,
            )
        metric_findings = check_guardrails(
            ref, spec.guardrails, state.stats, control=spec.control,
            treatments=spec.treatments, config=config, previous_p=state.min_p,
        )
        if spec.primary:
            metric_findings += check_significance(
                ref, spec.primary, state.stats, control=spec.control,
                treatments=spec.treatments, config=config, previous_p=state.min_p,
            )
        min_p = dict(state.min_p)
        min_p.update({f.dedup_key: f.evidence.p_value for f in metric_findings
                      if f.evidence.p_value is not None})
        return [*findings, *metric_findings], replace(state, min_p=min_p)

    def _act(
        self, specs: Sequence[SubjectSpec], findings: Iterable[Finding], bundle: Any,
        now: datetime, report: PassReport,
    ) -> dict[str, str]:
        """Guarded actions on firing findings; returns dedup_key → action taken."""
        by_key = {s.ref.key: s for s in specs}
        done: dict[str, str] = {}
        acted: set[str] = set()
        for f in findings:
            if not f.firing:
                continue
            spec = by_key.get(f.rollout or f.experiment or "")
            if spec is None or spec.ref.key in acted:
                continue
            try:
                if (f.kind == "guardrail" and f.rollout and spec.auto_rollback
                        and self.config.auto_rollback):
                    roll_back_rollout(self.config_store, f.rollout, f, actor=self.actor)
                    done[f.dedup_key] = "rolled_back"
                elif (f.kind == "srm" and f.experiment and self.config.pause_on_srm
                      and f.evidence.p_value is not None
                      and f.evidence.p_value < self.config.srm_pause_p):
                    pause_experiment(self.config_store, f.experiment, f, actor=self.actor)
                    done[f.dedup_key] = "paused"
                else:
                    continue
            except AbwbError as exc:
                report.errors.append(f"action on {f.dedup_key} failed (retried next pass): {exc}")
                continue
            acted.add(spec.ref.key)
            report.actions.append(f"{done[f.dedup_key]} {spec.ref.kind}:{spec.ref.key}")
            _log.warning("monitor %s %s %s: %s", done[f.dedup_key], spec.ref.kind,
                         spec.ref.key, f.message)
        return done

    def _alert(
        self, specs: Sequence[SubjectSpec], findings: list[Finding], actions: dict[str, str],
        now: datetime, report: PassReport,
    ) -> None:
        try:
            current = self.alert_store.open_alerts()
        except AbwbError as exc:
            report.errors.append(f"reading open alerts failed (alerts retried next pass): {exc}")
            return
        monitored = {s.ref.key for s in specs}
        retired = {a.subject for a in current if a.subject not in monitored and a.action is None}
        result = reconcile(current, findings, now=now, retire_subjects=retired)
        result.opened[:] = [_with_action(a, actions) for a in result.opened]
        result.refreshed[:] = [_with_action(a, actions) for a in result.refreshed]
        if not result.to_store:
            return
        try:
            self.alert_store.save(result.to_store)
        except AbwbError as exc:
            report.errors.append(f"storing alerts failed (recomputed next pass): {exc}")
            return
        report.opened, report.resolved = result.opened, result.resolved
        report.deliveries = deliver([*result.opened, *result.resolved], self.sinks)

    def run_forever(
        self,
        every_s: float,
        *,
        stop: threading.Event,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_pass: Callable[[PassReport], None] | None = None,
    ) -> int:
        """Run a pass every ``every_s`` seconds until ``stop`` is set.

        Args:
            every_s: Interval between the starts of two passes.
            stop: Set it (e.g. from a SIGTERM handler) to finish after the current pass.
            clock: Source of ``now``.
            on_pass: Called with each pass's report.

        Returns:
            Number of passes run.
        """
        passes = 0
        while not stop.is_set():
            began = time.monotonic()
            report = self.run_pass(clock())
            passes += 1
            (on_pass or _log_report)(report)
            stop.wait(max(0.0, every_s - (time.monotonic() - began)))
        return passes


def _route_events(
    events: pl.DataFrame, states: Sequence[SubjectState], exposures: Sequence[pl.DataFrame]
) -> list[pl.DataFrame]:
    """Split ``events`` by subject with one join (not one scan of all events per subject).

    A unit in several experiments gets its events routed to each of them.
    """
    if len(states) == 1 or events.height == 0:
        return [events] * len(states)
    keys = pl.concat(
        [
            pl.concat([st.units.select("unit_id"), exp.select("unit_id")])
            .unique()
            .with_columns(subject=pl.lit(i, pl.UInt32))
            for i, (st, exp) in enumerate(zip(states, exposures, strict=True))
        ]
    )
    parts = events.join(keys, on="unit_id", how="inner").partition_by(
        "subject", as_dict=True, include_key=False
    )
    empty = events.clear()
    return [parts.get((i,), empty) for i in range(len(states))]


def _log_report(report: PassReport) -> None:
    _log.log(logging.INFO if report.ok else logging.ERROR, "%s", report.summary())
    for error in report.errors:
        _log.error("monitor: %s", error)


def _state_key(spec: SubjectSpec) -> str:
    return f"{spec.ref.kind}:{spec.ref.key}"


def _drop_last_trailing(state: SubjectState) -> SubjectState:
    return replace(state, trailing=state.trailing[:-1])


def _with_action(alert: Alert, actions: dict[str, str]) -> Alert:
    action = actions.get(alert.dedup_key)
    if action is None or alert.action is not None:
        return alert
    return msgspec.structs.replace(alert, action=action)
