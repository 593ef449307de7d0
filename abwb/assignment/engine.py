"""The assignment engine: pure functions from (config, unit, attributes, now) to decisions.

Order of evaluation for each experiment (DESIGN.md):

    status → override → holdout → targeting → layer → traffic → sticky → variant

The engine performs no I/O and reads no clock: ``now`` is passed in, and sticky
assignments are passed in as a mapping (the caller fetched them from an
:class:`~abwb.cache.AssignmentCache`) and come back as ``sticky_writes``.
Compilation (salts, allocations, targeting predicates) happens once per config
version in :class:`Assigner`; a decision is then a few hashes and comparisons.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from abwb.assignment.allocation import Allocation, allocation_of
from abwb.assignment.conflicts import Rival, surface_rivals
from abwb.assignment.decision import AssignmentResult, Decision, Reason
from abwb.assignment.hashing import (
    BUCKETS,
    bucket_of_key,
    salt_prefix,
    traffic_salt,
    unit_id_bytes,
    variant_salt,
)
from abwb.config.bundle import ConfigBundle
from abwb.config.experiment import Experiment
from abwb.errors import InvalidInput
from abwb.targeting.compiler import make_compiler

__all__ = [
    "Assigner",
    "CompiledExperiment",
    "ConditionCompiler",
    "Predicate",
    "sticky_key",
]

#: A compiled audience check: attributes → (matched, explanation when not matched).
Predicate = Callable[[Mapping[str, Any]], tuple[bool, str]]
#: Turns a stored condition into a predicate (installed by :mod:`abwb.targeting`).
ConditionCompiler = Callable[[Any], Predicate]


def _match_all(_: Mapping[str, Any]) -> tuple[bool, str]:
    return True, ""


def sticky_key(experiment: Experiment) -> str:
    """Key of an experiment's sticky assignment.

    The phase is part of it, so a new phase re-randomises even sticky units.
    """
    return f"{experiment.key}/p{experiment.phase}"


@dataclass(frozen=True, slots=True)
class CompiledExperiment:
    """Everything a decision needs, precomputed once per config version."""

    experiment: Experiment
    traffic_salt: str
    variant_salt: str
    traffic_limit: float
    allocation: Allocation
    payloads: Mapping[str, Any]
    predicate: Predicate
    #: Whether other experiments share ``predicate`` (identical conditions).
    shared_predicate: bool
    targeted: bool
    scheduled: bool
    #: Traffic at 100 %: every unit passes, no traffic hash needed.
    full_traffic: bool
    layer_salt: str | None
    layer_ranges: tuple[tuple[int, int], ...]
    holdout_salt: str | None
    holdout_limit: float
    killed: bool
    sticky_key: str
    # Hot-path precomputations: salt prefixes (bytes) and the immutable decisions that
    # do not depend on the unit, shared by every call (Decision is frozen).
    traffic_prefix: bytes
    variant_prefix: bytes
    layer_prefix: bytes | None
    holdout_prefix: bytes | None
    gate: Decision | None
    assigned: Mapping[str, Decision]
    not_in_traffic: Decision


class Assigner:
    """Compiled config snapshot that answers assignment questions.

    Args:
        bundle: The config to serve.
        compile_condition: Turns targeting conditions into predicates; defaults to
            :func:`abwb.targeting.make_compiler` bound to the bundle's segments.

    Runtime guard: a unit is never in two running experiments that share a flag or a
    surface. Experiments claim contested units in precedence order
    (:func:`abwb.assignment.conflicts.precedence_key`: no scheduled start first, then
    earlier start, then config order); the loser gets ``Reason.SURFACE_TAKEN`` and
    :attr:`surface_taken_counts` counts it.

    Examples:
        >>> from abwb.config import Experiment, Variant
        >>> exp = Experiment(key="checkout", status="running", variants=[
        ...     Variant(key="control", weight=0.5, is_control=True),
        ...     Variant(key="treatment", weight=0.5)])
        >>> from datetime import datetime, UTC
        >>> Assigner(ConfigBundle(experiments=[exp])).decide(
        ...     "checkout", "user-1", now=datetime(2026, 1, 1, tzinfo=UTC)).variant
        'treatment'
    """

    def __init__(
        self, bundle: ConfigBundle, *, compile_condition: ConditionCompiler | None = None
    ) -> None:
        self.bundle = bundle
        self.version = bundle.version
        compiler = compile_condition or make_compiler(bundle.segments)
        #: The compiler of targeting conditions (the column-wise bulk path reads the same
        #: segments when it is the targeting engine's).
        self.compile_condition: ConditionCompiler = compiler
        layers = {layer.key: layer for layer in bundle.layers}
        holdouts = {h.key: h for h in bundle.holdouts}
        killed_flags = {f.key for f in bundle.flags if f.killed}
        # Experiments with identical conditions share one predicate, and a request
        # evaluates a shared predicate once (see _Unit.matched).
        predicates: dict[str, Predicate] = {}
        uses: Counter[str] = Counter()
        for exp in bundle.experiments:
            if exp.targeting is not None:
                text = _condition_key(exp.targeting)
                uses[text] += 1
                if text not in predicates:
                    predicates[text] = compiler(exp.targeting)
        self._compiled: dict[str, CompiledExperiment] = {}
        for exp in bundle.experiments:
            shared = None if exp.targeting is None else _condition_key(exp.targeting)
            layer = layers.get(exp.layer.layer) if exp.layer else None
            holdout = holdouts.get(exp.holdout) if exp.holdout else None
            self._compiled[exp.key] = _compile_experiment(
                exp,
                predicate=_match_all if shared is None else predicates[shared],
                shared_predicate=shared is not None and uses[shared] > 1,
                layer_salt=(layer.effective_salt if layer else f"layer:{exp.layer.layer}")
                if exp.layer
                else None,
                holdout_salt=holdout.effective_salt if holdout else None,
                holdout_limit=holdout.traffic_fraction * BUCKETS if holdout else 0.0,
                killed=exp.flag_key in killed_flags,
            )
        self._rivals: dict[str, tuple[Rival, ...]] = surface_rivals(bundle.experiments)
        self._any_sticky = any(exp.sticky for exp in bundle.experiments)
        self._surface_taken: Counter[str] = Counter()

    def contested(self, key: str) -> bool:
        """Whether the runtime guard can give ``key``'s units to a higher-precedence rival."""
        return bool(self._rivals.get(key))

    def rivals(self, key: str) -> tuple[str, ...]:
        """Keys of the higher-precedence rivals of ``key``, in the order the guard asks them."""
        return tuple(rival.key for rival in self._rivals.get(key, ()))

    @property
    def surface_taken_counts(self) -> dict[str, int]:
        """Decisions turned into ``SURFACE_TAKEN`` by the runtime guard, per experiment."""
        return dict(self._surface_taken)

    @property
    def experiments(self) -> list[CompiledExperiment]:
        """Compiled experiments in config order."""
        return list(self._compiled.values())

    def compiled(self, key: str) -> CompiledExperiment:
        """The compiled experiment ``key``.

        Raises:
            InvalidInput: no such experiment in this snapshot.
        """
        try:
            return self._compiled[key]
        except KeyError:
            raise InvalidInput(f"unknown experiment {key!r}", path="experiments") from None

    def assign(
        self,
        unit_id: str,
        *,
        now: datetime,
        attributes: Mapping[str, Any] | None = None,
        unit_type: str = "user",
        sticky: Mapping[str, str] | None = None,
        experiments: Iterable[str] | None = None,
    ) -> AssignmentResult:
        """Decide every experiment (or the ones named) for one unit.

        Args:
            unit_id: The unit's id (non-empty string, at most 512 bytes).
            now: Current time (timezone-aware), for schedules.
            attributes: Targeting attributes of the unit.
            unit_type: Type of ``unit_id``; experiments on another type are skipped.
            sticky: Previously stored sticky assignments (``sticky_key`` → variant).
            experiments: Limit to these experiment keys.

        Returns:
            Decisions in config order and the sticky assignments to store.

        Raises:
            InvalidInput: bad unit id, naive ``now``, or an unknown experiment key.
        """
        id_bytes = unit_id_bytes(unit_id)
        if now.tzinfo is None:
            raise InvalidInput("must be timezone-aware", path="now")
        attrs = attributes or {}
        stored = sticky or {}
        selected = (
            [self.compiled(k) for k in experiments]
            if experiments is not None
            else self._compiled.values()
        )
        writes: dict[str, str] = {}
        unit = _Unit(unit_id, id_bytes, unit_type, attrs, now, stored, {}, {})
        guarded = bool(self._rivals)  # most configs have no contested surfaces
        if not guarded and not self._any_sticky:  # the common case: one comprehension
            return AssignmentResult(
                unit_id=unit_id,
                unit_type=unit_type,
                decisions=[_decide(ce, unit) for ce in selected],
                config_version=self.version,
                sticky_writes=writes,
            )
        decisions: list[Decision] = []
        memo: dict[str, Decision] = {}
        for ce in selected:
            decision = self._guarded(ce, unit, memo) if guarded else _decide(ce, unit)
            if decision.reason is Reason.SURFACE_TAKEN:
                self._surface_taken[ce.experiment.key] += 1
            decisions.append(decision)
            if (
                ce.experiment.sticky
                and decision.reason is Reason.ASSIGNED
                and decision.variant is not None
            ):
                writes[ce.sticky_key] = decision.variant
        return AssignmentResult(
            unit_id=unit_id,
            unit_type=unit_type,
            decisions=decisions,
            config_version=self.version,
            sticky_writes=writes,
        )

    def decide(
        self,
        experiment: str,
        unit_id: str,
        *,
        now: datetime,
        attributes: Mapping[str, Any] | None = None,
        unit_type: str = "user",
        sticky: Mapping[str, str] | None = None,
    ) -> Decision:
        """Decide one experiment for one unit (see :meth:`assign`)."""
        return self.assign(
            unit_id,
            now=now,
            attributes=attributes,
            unit_type=unit_type,
            sticky=sticky,
            experiments=[experiment],
        ).decisions[0]

    def _guarded(self, ce: CompiledExperiment, unit: _Unit, memo: dict[str, Decision]) -> Decision:
        """:meth:`_decide`, then yield the unit to a higher-precedence rival holding it."""
        key = ce.experiment.key
        done = memo.get(key)
        if done is not None:
            return done
        decision = _decide(ce, unit)
        if decision.reason.in_experiment:
            for rival in self._rivals.get(key, ()):
                held = self._guarded(self._compiled[rival.key], unit, memo)
                if held.reason.in_experiment:
                    decision = Decision(
                        experiment=key,
                        variant=None,
                        reason=Reason.SURFACE_TAKEN,
                        phase=ce.experiment.phase,
                        detail=f"{rival.shared} is taken by experiment {rival.key!r} "
                        f"(variant {held.variant!r}) for this unit",
                    )
                    break
        memo[key] = decision
        return decision


@dataclass(slots=True)
class _Unit:
    """One request's unit: id encoded once, layer buckets and shared predicates memoised."""

    id: str
    id_bytes: bytes
    type: str
    attrs: Mapping[str, Any]
    now: datetime
    sticky: Mapping[str, str]
    layer_buckets: dict[bytes, int]
    #: Outcomes of predicates shared by several experiments, evaluated once per request.
    matched: dict[Predicate, tuple[bool, str]]


def _condition_key(condition: Any) -> str:
    """Canonical text of a condition: equal texts mean the same audience (1 ≠ 1.0 ≠ true)."""
    return json.dumps(condition, sort_keys=True, default=repr)


def _compile_experiment(
    exp: Experiment,
    *,
    predicate: Predicate,
    shared_predicate: bool,
    layer_salt: str | None,
    holdout_salt: str | None,
    holdout_limit: float,
    killed: bool,
) -> CompiledExperiment:
    salt = exp.effective_salt

    def fixed(reason: Reason, detail: str = "", variant: str | None = None) -> Decision:
        payload = None if variant is None else exp.variant(variant).payload  # type: ignore[union-attr]
        return Decision(
            experiment=exp.key,
            variant=variant,
            reason=reason,
            phase=exp.phase,
            payload=payload,
            detail=detail,
        )

    gate: Decision | None = None
    if exp.status != "running":
        reason = Reason.PAUSED if exp.status == "paused" else Reason.NOT_RUNNING
        gate = fixed(reason, f"status is {exp.status!r}")
    elif killed:
        gate = fixed(Reason.KILLED, f"flag {exp.flag_key!r} is killed")
    t_salt, v_salt = traffic_salt(salt, exp.phase), variant_salt(salt, exp.phase)
    return CompiledExperiment(
        experiment=exp,
        traffic_salt=t_salt,
        variant_salt=v_salt,
        traffic_limit=exp.traffic_fraction * BUCKETS,
        allocation=allocation_of(exp),
        payloads={v.key: v.payload for v in exp.variants},
        predicate=predicate,
        shared_predicate=shared_predicate,
        targeted=exp.targeting is not None,
        scheduled=exp.schedule.start_at is not None or exp.schedule.end_at is not None,
        full_traffic=exp.traffic_fraction * BUCKETS >= BUCKETS,
        layer_salt=layer_salt,
        layer_ranges=tuple(exp.layer.ranges) if exp.layer else (),
        holdout_salt=holdout_salt,
        holdout_limit=holdout_limit,
        killed=killed,
        sticky_key=sticky_key(exp),
        traffic_prefix=salt_prefix(t_salt),
        variant_prefix=salt_prefix(v_salt),
        layer_prefix=None if layer_salt is None else salt_prefix(layer_salt),
        holdout_prefix=None if holdout_salt is None else salt_prefix(holdout_salt),
        gate=gate,
        assigned={v.key: fixed(Reason.ASSIGNED, variant=v.key) for v in exp.variants},
        not_in_traffic=fixed(Reason.NOT_IN_TRAFFIC),
    )


def _serve(ce: CompiledExperiment, variant: str, reason: Reason) -> Decision:
    exp = ce.experiment
    return Decision(
        experiment=exp.key,
        variant=variant,
        reason=reason,
        phase=exp.phase,
        payload=ce.payloads[variant],
    )


def _out(ce: CompiledExperiment, reason: Reason, detail: str = "") -> Decision:
    exp = ce.experiment
    return Decision(experiment=exp.key, variant=None, reason=reason, phase=exp.phase, detail=detail)


def _decide(ce: CompiledExperiment, unit: _Unit) -> Decision:  # noqa: C901 - one sequence
    """The evaluation order, for one experiment and one unit."""
    exp = ce.experiment
    if exp.unit_type != unit.type:
        return _out(ce, Reason.UNIT_TYPE_MISMATCH, f"experiment randomises {exp.unit_type!r} units")
    if ce.gate is not None:
        return ce.gate
    if ce.scheduled:
        start, end = exp.schedule.start_at, exp.schedule.end_at
        if (start is not None and unit.now < start) or (end is not None and unit.now >= end):
            return _out(ce, Reason.OUTSIDE_SCHEDULE, "now is outside the experiment's schedule")
    if exp.overrides:
        forced = exp.overrides.get(unit.id)
        if forced is not None:
            return _serve(ce, forced, Reason.OVERRIDE)
    uid = unit.id_bytes
    if ce.holdout_prefix is not None and bucket_of_key(ce.holdout_prefix, uid) < ce.holdout_limit:
        return _out(ce, Reason.HOLDOUT, f"unit is in holdout {exp.holdout!r}")
    if ce.targeted:
        if ce.shared_predicate:
            outcome = unit.matched.get(ce.predicate)
            if outcome is None:
                outcome = unit.matched[ce.predicate] = ce.predicate(unit.attrs)
        else:
            outcome = ce.predicate(unit.attrs)
        if not outcome[0]:
            return _out(ce, Reason.TARGETING_MISS, outcome[1])
    if ce.layer_prefix is not None:
        layer_bucket = unit.layer_buckets.get(ce.layer_prefix)
        if layer_bucket is None:
            layer_bucket = unit.layer_buckets[ce.layer_prefix] = bucket_of_key(ce.layer_prefix, uid)
        if not any(s <= layer_bucket < e for s, e in ce.layer_ranges):
            return _out(ce, Reason.LAYER_EXCLUDED, f"layer bucket {layer_bucket} not in ranges")
    if not ce.full_traffic and bucket_of_key(ce.traffic_prefix, uid) >= ce.traffic_limit:
        return ce.not_in_traffic
    if exp.sticky:
        kept = unit.sticky.get(ce.sticky_key)
        if kept is not None and kept in ce.payloads:
            return _serve(ce, kept, Reason.STICKY)
    return ce.assigned[ce.allocation.variant_at(bucket_of_key(ce.variant_prefix, uid))]
