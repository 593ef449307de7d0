"""The assignment engine: pure functions from (config, unit, attributes, now) to decisions.

Order of evaluation for each experiment (DESIGN.md):

    status → override → holdout → targeting → layer → traffic → sticky → variant

The engine performs no I/O and reads no clock: ``now`` is passed in, and sticky
assignments are passed in as a mapping (the caller fetched them from an
:class:`~abwb.cache.AssignmentCache`) and come back as ``sticky_writes``.
Compilation (salts, allocations, targeting predicates) happens once per config
version in :class:`Assigner`; a decision is then a few hashes and comparisons.

Hashes: with the compiled kernel (:func:`abwb.assignment.hashing.native_kernel`), a
request for every experiment hashes the unit under all the snapshot's salts in one call
and the decisions read buckets by position (hashing them all costs less than one
hashlib call each); otherwise, and for a request naming some experiments, each bucket is
a copied hashlib state, hashed only when a step needs it. Both give the same buckets.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from abwb.assignment.allocation import Allocation, allocation_of
from abwb.assignment.conflicts import Rival, surface_rivals
from abwb.assignment.decision import AssignmentResult, Decision, Reason
from abwb.assignment.hashing import (
    BUCKETS,
    SaltTable,
    _uint64_be,
    bucket_of_state,
    native_kernel,
    salt_state,
    traffic_salt,
    unit_id_bytes,
    variant_salt,
)
from abwb.config.bundle import ConfigBundle
from abwb.config.experiment import Experiment
from abwb.errors import InvalidInput
from abwb.targeting.compiler import TargetingCompiler, make_compiler

if TYPE_CHECKING:
    from hashlib import _Hash

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
    # Hot-path precomputations, shared by every call: the SHA-256 state of each salt
    # (``None`` where the hash cannot change the answer), integer cuts (a bucket ``b`` is
    # below a limit ``L`` exactly when ``b < ceil(L)``), and the unit-independent
    # decisions (Decision is frozen).
    unit_type: str
    sticky: bool
    #: Any of status gate, schedule, overrides or holdout: checked by :func:`_early`.
    early: bool
    traffic_state: _Hash | None
    traffic_cut: int
    variant_state: _Hash
    layer_state: _Hash | None
    holdout_state: _Hash | None
    holdout_cut: int
    #: Positions of the traffic, variant, layer and holdout salts in the assigner's
    #: :class:`~abwb.assignment.hashing.SaltTable` (-1: no such hash).
    traffic_at: int
    variant_at: int
    layer_at: int
    holdout_at: int
    gate: Decision | None
    starts: tuple[int, ...]
    #: The ``assigned`` decision of each allocation range, aligned with ``starts``.
    assigned_at: tuple[Decision, ...]
    not_in_traffic: Decision
    type_mismatch: Decision
    outside_schedule: Decision
    held_out: Decision


class Assigner:
    """Compiled config snapshot that answers assignment questions.

    Args:
        bundle: The config to serve.
        compile_condition: Turns targeting conditions into predicates; defaults to
            :func:`abwb.targeting.make_compiler` bound to the bundle's segments.
        native: Hash with the compiled kernel when it is built (``False``: hashlib;
            the decisions are the same).

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
        self,
        bundle: ConfigBundle,
        *,
        compile_condition: ConditionCompiler | None = None,
        native: bool = True,
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
        salts: dict[str, int] = {}  # salt -> position in the unit's bucket list
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
                salts=salts,
            )
        kernel = native_kernel() if native else None
        #: Whether buckets come from the compiled kernel (the bulk path follows it too).
        self.native = kernel is not None
        table = SaltTable.of(list(salts))
        #: Buckets of a unit under every salt of the snapshot, in one kernel call.
        self._unit_buckets: Callable[[bytes], list[int]] | None = (
            None if kernel is None else lambda uid: kernel.buckets_of_unit(table, uid)
        )
        # Different conditions on the same dotted path (app.version) each walked the
        # nested attributes; with two or more predicates, a request resolves them once.
        self._resolve = (
            compiler.resolved
            if isinstance(compiler, TargetingCompiler) and len(predicates) > 1
            else None
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
        if self._resolve is not None and attrs:
            attrs = self._resolve(attrs)
        stored = sticky or {}
        selected = (
            [self.compiled(k) for k in experiments]
            if experiments is not None
            else self._compiled.values()
        )
        writes: dict[str, str] = {}
        # A few named experiments need few hashes: hashlib, only where a step needs one.
        buckets = (self._unit_buckets(id_bytes)
                   if self._unit_buckets is not None and experiments is None else None)
        unit = _Unit(unit_id, id_bytes, unit_type, attrs, now, stored, {}, {}, buckets)
        guarded = bool(self._rivals)  # most configs have no contested surfaces
        if not guarded and not self._any_sticky:  # the common case: one comprehension
            return AssignmentResult(
                unit_id=unit_id,
                unit_type=unit_type,
                decisions=_decide_each(selected, unit),
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
    layer_buckets: dict[str, int]
    #: Outcomes of predicates shared by several experiments, evaluated once per request.
    matched: dict[Predicate, tuple[bool, str]]
    #: The unit's bucket under every salt of the snapshot (``None``: hash with hashlib).
    buckets: list[int] | None


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
    salts: dict[str, int],
) -> CompiledExperiment:
    """Compile ``exp``; its salts get positions in ``salts`` (shared salts, one position)."""
    salt = exp.effective_salt

    def at(salt: str | None) -> int:
        return -1 if salt is None else salts.setdefault(salt, len(salts))

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
    allocation = allocation_of(exp)
    traffic_limit = exp.traffic_fraction * BUCKETS
    full_traffic = traffic_limit >= BUCKETS
    scheduled = exp.schedule.start_at is not None or exp.schedule.end_at is not None
    return CompiledExperiment(
        experiment=exp,
        traffic_salt=t_salt,
        variant_salt=v_salt,
        traffic_limit=traffic_limit,
        allocation=allocation,
        payloads={v.key: v.payload for v in exp.variants},
        predicate=predicate,
        shared_predicate=shared_predicate,
        targeted=exp.targeting is not None,
        scheduled=scheduled,
        full_traffic=full_traffic,
        layer_salt=layer_salt,
        layer_ranges=tuple(exp.layer.ranges) if exp.layer else (),
        holdout_salt=holdout_salt,
        holdout_limit=holdout_limit,
        killed=killed,
        sticky_key=sticky_key(exp),
        unit_type=exp.unit_type,
        sticky=exp.sticky,
        early=gate is not None or scheduled or bool(exp.overrides) or holdout_salt is not None,
        traffic_state=None if full_traffic else salt_state(t_salt),
        traffic_cut=math.ceil(traffic_limit),
        variant_state=salt_state(v_salt),
        layer_state=None if layer_salt is None else salt_state(layer_salt),
        holdout_state=None if holdout_salt is None else salt_state(holdout_salt),
        holdout_cut=math.ceil(holdout_limit),
        traffic_at=at(None if full_traffic else t_salt),
        variant_at=at(v_salt),
        layer_at=at(layer_salt),
        holdout_at=at(holdout_salt),
        gate=gate,
        starts=allocation.starts,
        assigned_at=tuple(fixed(Reason.ASSIGNED, variant=v) for v in allocation.variants),
        not_in_traffic=fixed(Reason.NOT_IN_TRAFFIC),
        type_mismatch=fixed(Reason.UNIT_TYPE_MISMATCH,
                            f"experiment randomises {exp.unit_type!r} units"),
        outside_schedule=fixed(Reason.OUTSIDE_SCHEDULE,
                               "now is outside the experiment's schedule"),
        held_out=fixed(Reason.HOLDOUT, f"unit is in holdout {exp.holdout!r}"),
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


def _decide(ce: CompiledExperiment, unit: _Unit) -> Decision:
    """The evaluation order, for one experiment and one unit."""
    return _decide_each((ce,), unit)[0]


def _decide_each(  # noqa: C901 - one sequence
    selected: Iterable[CompiledExperiment], unit: _Unit
) -> list[Decision]:
    """The evaluation order, for each experiment in turn and one unit.

    One loop for the whole request: the unit's fields are read once, not once per
    experiment, and no call is made per experiment on the common path.
    """
    out: list[Decision] = []
    append = out.append
    unit_type, uid, matched, attrs = unit.type, unit.id_bytes, unit.matched, unit.attrs
    buckets = unit.buckets
    for ce in selected:
        if ce.unit_type != unit_type:
            append(ce.type_mismatch)
            continue
        if ce.early:  # status, schedule, override, holdout: rare, so out of the common path
            decided = _early(ce, unit)
            if decided is not None:
                append(decided)
                continue
        if ce.targeted:
            if ce.shared_predicate:
                outcome = matched.get(ce.predicate)
                if outcome is None:
                    outcome = matched[ce.predicate] = ce.predicate(attrs)
            else:
                outcome = ce.predicate(attrs)
            if not outcome[0]:
                append(_out(ce, Reason.TARGETING_MISS, outcome[1]))
                continue
        if ce.layer_state is not None:
            layer_bucket = _layer_bucket(ce, unit)
            if not any(s <= layer_bucket < e for s, e in ce.layer_ranges):
                append(_out(ce, Reason.LAYER_EXCLUDED,
                            f"layer bucket {layer_bucket} not in ranges"))
                continue
        state = ce.traffic_state
        if state is not None:
            if buckets is None:
                h = state.copy()  # bucket_of_state, inlined: a call per hash is ~15 % of a decision
                h.update(uid)
                traffic = _uint64_be(h.digest())[0] % BUCKETS
            else:
                traffic = buckets[ce.traffic_at]
            if traffic >= ce.traffic_cut:
                append(ce.not_in_traffic)
                continue
        if ce.sticky:
            kept = unit.sticky.get(ce.sticky_key)
            if kept is not None and kept in ce.payloads:
                append(_serve(ce, kept, Reason.STICKY))
                continue
        if buckets is None:
            h = ce.variant_state.copy()
            h.update(uid)
            variant = _uint64_be(h.digest())[0] % BUCKETS
        else:
            variant = buckets[ce.variant_at]
        append(ce.assigned_at[bisect_right(ce.starts, variant) - 1])
    return out


def _early(ce: CompiledExperiment, unit: _Unit) -> Decision | None:
    """Status, schedule, override and holdout, in that order (``None``: none decided)."""
    if ce.gate is not None:
        return ce.gate
    exp = ce.experiment
    if ce.scheduled:
        start, end = exp.schedule.start_at, exp.schedule.end_at
        if (start is not None and unit.now < start) or (end is not None and unit.now >= end):
            return ce.outside_schedule
    if exp.overrides:
        forced = exp.overrides.get(unit.id)
        if forced is not None:
            return _serve(ce, forced, Reason.OVERRIDE)
    if (ce.holdout_state is not None
            and _unit_bucket(unit, ce.holdout_state, ce.holdout_at) < ce.holdout_cut):
        return ce.held_out
    return None


def _layer_bucket(ce: CompiledExperiment, unit: _Unit) -> int:
    """The unit's bucket in the experiment's layer, hashed once per request and layer."""
    if unit.buckets is not None:
        return unit.buckets[ce.layer_at]
    salt: str = ce.layer_salt  # type: ignore[assignment]  # set with layer_state
    found = unit.layer_buckets.get(salt)
    if found is None:
        found = unit.layer_buckets[salt] = bucket_of_state(ce.layer_state,  # type: ignore[arg-type]
                                                           unit.id_bytes)
    return found


def _unit_bucket(unit: _Unit, state: _Hash, at: int) -> int:
    """The unit's bucket under the salt of ``state`` (position ``at`` in the salt table)."""
    return bucket_of_state(state, unit.id_bytes) if unit.buckets is None else unit.buckets[at]
