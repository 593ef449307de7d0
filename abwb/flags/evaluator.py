"""The flag evaluator: a config snapshot compiled once, answering flag values per unit.

Order of evaluation for one flag (documented in ``docs/flags.md``)::

    kill switch → prerequisites → rules (in order) → rollouts → default variation

- **killed**: the off variation, reason ``DISABLED``, for everyone (no unit id needed).
- **prerequisites**: each named flag is evaluated for the same unit; if one does not
  serve the required variation, the off variation is served (``PREREQUISITE_FAILED``).
  Cycles are refused by bundle validation and guarded here (``ERROR``/``GENERAL``).
- **rules**: the first rule whose condition matches decides: a fixed variation
  (``TARGETING_MATCH``), a percentage split over ``bucket(flag.effective_salt, unit)``
  (``SPLIT``), or an experiment via the :class:`~abwb.assignment.Assigner` — the
  variant's payload (or the flag variation named like the variant) is the value; a unit
  not in the experiment falls through to the next rule.
- **rollouts**: an active rollout of the flag serves its variation to units with
  ``bucket(rollout.effective_salt, unit) < fraction * 10000`` (``SPLIT``).
- **default**: the default variation (``DEFAULT``; ``STATIC`` for a flag with nothing
  but a default).

Evaluation never raises: a malformed context, an unknown flag, a type mismatch or an
internal error returns the caller's default with an error code and a detail; internal
errors are logged and counted in :data:`evaluation_errors`. The unit id is needed only
when a hash decides (split, experiment, rollout).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

import msgspec

from abwb.assignment.allocation import Allocation, bucket_counts
from abwb.assignment.decision import Decision, Reason
from abwb.assignment.engine import Assigner, ConditionCompiler, Predicate
from abwb.assignment.hashing import bucket, check_unit_id
from abwb.config.bundle import ConfigBundle
from abwb.config.flag import Flag, FlagRule, FlagType, flag_value_matches, prerequisite_cycles
from abwb.config.rollout import Rollout
from abwb.errors import AbwbError, InvalidInput
from abwb.flags.evaluation import ErrorCode, FlagEvaluation, FlagReason
from abwb.rollout.schedule import includes, rollout_state
from abwb.targeting.compiler import make_compiler

__all__ = ["FlagEvaluator", "default_condition_compiler", "evaluation_errors"]

log = logging.getLogger(__name__)
#: Process-wide counters of evaluations that failed internally (exported as metrics).
evaluation_errors: Counter[str] = Counter()

_MISSING: Any = object()
RuleKind = Literal["variation", "split", "experiment"]


def default_condition_compiler(bundle: ConfigBundle | None = None) -> ConditionCompiler:
    """The targeting engine's compiler bound to the bundle's segments."""
    return make_compiler(bundle.segments if bundle else None, path="condition")


@dataclass(frozen=True, slots=True)
class _Rule:
    index: int
    kind: RuleKind
    predicate: Predicate | None  # None: matches everyone
    parse_error: str | None
    variation: str | None
    split: Allocation | None
    experiment: str | None


@dataclass(frozen=True, slots=True)
class _CompiledFlag:
    flag: Flag
    rules: tuple[_Rule, ...]
    rollouts: tuple[Rollout, ...]
    cycle: tuple[str, ...] | None
    static: bool
    #: Answer shared by every unit (killed or static flags), built once.
    fixed: FlagEvaluation | None = None


@dataclass(slots=True)
class _Context:
    unit_id: Any
    attributes: Mapping[str, Any]
    now: datetime
    unit_type: str
    memo: dict[str, FlagEvaluation]
    stack: list[str]


def _split_allocation(rule: FlagRule) -> Allocation:
    shares = rule.split or []
    counts = bucket_counts([s.weight for s in shares])
    ranges: dict[str, list[tuple[int, int]]] = {}
    start = 0
    for share, count in zip(shares, counts, strict=True):
        if count:
            ranges.setdefault(share.variation, []).append((start, start + count))
        start += count
    return Allocation.from_ranges(ranges)


def _value_kind(value: Any) -> FlagType | None:
    """The flag type a caller's default implies (``None``: no default, no check)."""
    if value is None or value is _MISSING:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float):
        return "number"
    return "json"


class FlagEvaluator:
    """A compiled config snapshot that evaluates feature flags.

    Build one per config version (conditions, splits and prerequisite cycles are
    compiled here) and share it between requests; it holds no mutable state.

    Args:
        bundle: The config snapshot.
        assigner: The assignment engine over the same bundle, for rules that delegate
            to an experiment (built on first need when omitted).
        compile_condition: Turns rule conditions into predicates (defaults to the
            targeting engine's compiler bound to the bundle's segments).

    Examples:
        >>> from datetime import UTC, datetime
        >>> from abwb.config import ConfigBundle, Flag
        >>> flag = Flag(key="new-checkout", type="bool",
        ...     variations={"on": True, "off": False},
        ...     default_variation="on", off_variation="off")
        >>> evaluator = FlagEvaluator(ConfigBundle(flags=[flag]))
        >>> now = datetime(2026, 1, 1, tzinfo=UTC)
        >>> e = evaluator.evaluate("new-checkout", "user-1", {}, now, default=False)
        >>> e.value, e.variation, e.reason
        (True, 'on', <FlagReason.STATIC: 'STATIC'>)
        >>> evaluator.evaluate("nope", "user-1", {}, now, default=False).error_code
        <ErrorCode.FLAG_NOT_FOUND: 'FLAG_NOT_FOUND'>
    """

    def __init__(
        self,
        bundle: ConfigBundle,
        assigner: Assigner | None = None,
        *,
        compile_condition: ConditionCompiler | None = None,
    ) -> None:
        self.bundle = bundle
        self.version = bundle.version
        self._compiler = compile_condition or default_condition_compiler(bundle)
        self._assigner = assigner
        self._assigner_error: str | None = None
        cycles = prerequisite_cycles(bundle.flags)
        rollouts: dict[str, list[Rollout]] = {}
        for rollout in bundle.rollouts:
            rollouts.setdefault(rollout.flag_key, []).append(rollout)
        self._flags: dict[str, _CompiledFlag] = {}
        for flag in bundle.flags:
            own = tuple(r for r in rollouts.get(flag.key, []) if r.variation in flag.variations)
            compiled = _CompiledFlag(
                flag=flag,
                rules=tuple(self._compile_rule(i, r) for i, r in enumerate(flag.rules)),
                rollouts=own,
                cycle=tuple(cycles[flag.key]) if flag.key in cycles else None,
                static=not (flag.rules or flag.prerequisites or own),
            )
            if flag.killed:
                fixed = self._serve(
                    compiled, flag.off_variation, FlagReason.DISABLED, "flag is killed"
                )
            elif compiled.static:
                fixed = self._serve(
                    compiled, flag.default_variation, FlagReason.STATIC, "static flag"
                )
            else:
                fixed = None
            self._flags[flag.key] = replace(compiled, fixed=fixed)

    @property
    def flag_keys(self) -> list[str]:
        """Keys of every flag in the snapshot, in config order."""
        return list(self._flags)

    def flag(self, key: str) -> Flag | None:
        """The flag ``key`` of this snapshot, or ``None``."""
        compiled = self._flags.get(key)
        return compiled.flag if compiled else None

    def _compile_rule(self, index: int, rule: FlagRule) -> _Rule:
        predicate: Predicate | None = None
        parse_error: str | None = None
        if rule.condition is not None:
            try:
                predicate = self._compiler(rule.condition)
            except Exception as exc:  # a bad condition must fail its flag, not the snapshot
                parse_error = f"rule {index} condition does not compile: {exc}"
        kind: RuleKind = (
            "variation"
            if rule.variation is not None
            else "split"
            if rule.split is not None
            else "experiment"
        )
        return _Rule(
            index=index,
            kind=kind,
            predicate=predicate,
            parse_error=parse_error,
            variation=rule.variation,
            split=_split_allocation(rule) if kind == "split" else None,
            experiment=rule.experiment,
        )

    def _experiments(self) -> Assigner | None:
        if self._assigner is None and self._assigner_error is None:
            try:
                self._assigner = Assigner(self.bundle, compile_condition=self._compiler)
            except AbwbError as exc:
                self._assigner_error = f"cannot compile experiments: {exc}"
        return self._assigner

    # -- public evaluation -------------------------------------------------------------

    def evaluate(
        self,
        flag_key: str,
        unit_id: str | None,
        attributes: Mapping[str, Any] | None = None,
        now: datetime | None = None,
        *,
        default: Any = None,
        expected_type: FlagType | None = None,
        unit_type: str = "user",
    ) -> FlagEvaluation:
        """Evaluate one flag for one unit; never raises.

        Args:
            flag_key: The flag.
            unit_id: The unit (the OpenFeature targeting key); needed only when a hash
                decides (split, experiment, rollout).
            attributes: Targeting attributes of the unit.
            now: Current time (timezone-aware), for rollouts and experiment schedules.
            default: Served, with an error code, when evaluation fails; its type is
                checked against the value (``TYPE_MISMATCH``) unless it is ``None``.
            expected_type: The flag type the caller expects (``TYPE_MISMATCH`` if not).
            unit_type: Type of ``unit_id`` (for experiment delegation).

        Returns:
            The evaluation: value, variation, reason, error code and detail.
        """
        try:
            if not isinstance(flag_key, str):
                return self._error(
                    str(flag_key),
                    default,
                    ErrorCode.FLAG_NOT_FOUND,
                    f"flag key must be a string, got {type(flag_key).__name__}",
                )
            ctx_or_error = self._context(flag_key, unit_id, attributes, now, unit_type, default)
            if isinstance(ctx_or_error, FlagEvaluation):
                return ctx_or_error
            result = self._resolve(flag_key, ctx_or_error)
            return self._typed(result, default, expected_type)
        except Exception as exc:  # the evaluation boundary: log, count, serve the default
            evaluation_errors["general"] += 1
            log.exception("flag %r evaluation failed; serving the caller's default", flag_key)
            return self._error(
                str(flag_key),
                default,
                ErrorCode.GENERAL,
                f"internal error: {type(exc).__name__}: {exc}",
            )

    def evaluate_all(
        self,
        unit_id: str | None,
        attributes: Mapping[str, Any] | None = None,
        now: datetime | None = None,
        *,
        unit_type: str = "user",
    ) -> dict[str, FlagEvaluation]:
        """Evaluate every flag of the snapshot for one unit; never raises.

        Prerequisites shared between flags are evaluated once.

        Returns:
            Flag key → evaluation, in config order (errors carry value ``None``).
        """
        ctx = self._context("*", unit_id, attributes, now, unit_type, None)
        if isinstance(ctx, FlagEvaluation):
            return {k: msgspec.structs.replace(ctx, flag=k) for k in self._flags}
        out: dict[str, FlagEvaluation] = {}
        for key in self._flags:
            try:
                out[key] = self._resolve(key, ctx)
            except Exception as exc:  # same boundary as evaluate(), per flag
                evaluation_errors["general"] += 1
                log.exception("flag %r evaluation failed; serving None", key)
                out[key] = self._error(
                    key, None, ErrorCode.GENERAL, f"internal error: {type(exc).__name__}: {exc}"
                )
                ctx.stack.clear()
        return out

    # -- internals ---------------------------------------------------------------------

    def _error(self, flag: str, default: Any, code: ErrorCode, detail: str) -> FlagEvaluation:
        return FlagEvaluation(
            flag=flag,
            value=None if default is _MISSING else default,
            variation=None,
            reason=FlagReason.ERROR,
            error_code=code,
            detail=detail,
            config_version=self.version,
        )

    def _context(
        self,
        flag_key: str,
        unit_id: Any,
        attributes: Any,
        now: Any,
        unit_type: Any,
        default: Any,
    ) -> _Context | FlagEvaluation:
        if not isinstance(now, datetime) or now.tzinfo is None:
            return self._error(
                flag_key,
                default,
                ErrorCode.INVALID_CONTEXT,
                f"now must be a timezone-aware datetime, got {now!r:.60}",
            )
        if attributes is None:
            attributes = {}
        if not isinstance(attributes, Mapping):
            return self._error(
                flag_key,
                default,
                ErrorCode.INVALID_CONTEXT,
                f"attributes must be a mapping, got {type(attributes).__name__}",
            )
        if not isinstance(unit_type, str):
            return self._error(
                flag_key,
                default,
                ErrorCode.INVALID_CONTEXT,
                f"unit_type must be a string, got {type(unit_type).__name__}",
            )
        return _Context(unit_id, attributes, now, unit_type, {}, [])

    def _typed(
        self, result: FlagEvaluation, default: Any, expected_type: FlagType | None
    ) -> FlagEvaluation:
        if result.error_code is not None:
            return self._error(result.flag, default, result.error_code, result.detail)
        flag = self._flags[result.flag].flag
        if expected_type is not None and flag.type != expected_type:
            return self._error(
                result.flag,
                default,
                ErrorCode.TYPE_MISMATCH,
                f"flag {flag.key!r} is a {flag.type} flag, not {expected_type}",
            )
        kind = _value_kind(default)
        if kind is not None and not flag_value_matches(kind, result.value):
            return self._error(
                result.flag,
                default,
                ErrorCode.TYPE_MISMATCH,
                f"flag {flag.key!r} served {result.value!r:.60}, which is not a {kind} "
                f"like the default {default!r:.60}",
            )
        if kind == "json" and type(result.value) is not type(default):
            return self._error(
                result.flag,
                default,
                ErrorCode.TYPE_MISMATCH,
                f"flag {flag.key!r} served a {type(result.value).__name__}, "
                f"the default is a {type(default).__name__}",
            )
        return result

    def _unit(self, ctx: _Context, flag: str) -> FlagEvaluation | None:
        """An error evaluation if the unit id cannot be hashed, else ``None``."""
        uid = ctx.unit_id
        if uid is None or (isinstance(uid, str) and not uid.strip()):
            return self._error(
                flag,
                None,
                ErrorCode.TARGETING_KEY_MISSING,
                "this flag hashes the unit: a unit id (targeting key) is required",
            )
        try:
            check_unit_id(uid)
        except InvalidInput as exc:
            return self._error(flag, None, ErrorCode.INVALID_CONTEXT, f"unit id {exc}")
        return None

    def _serve(
        self,
        cf: _CompiledFlag,
        variation: str,
        reason: FlagReason,
        detail: str,
        **extra: Any,
    ) -> FlagEvaluation:
        return FlagEvaluation(
            flag=cf.flag.key,
            value=cf.flag.variations[variation],
            variation=variation,
            reason=reason,
            detail=detail,
            config_version=self.version,
            **extra,
        )

    def _resolve(self, key: str, ctx: _Context) -> FlagEvaluation:
        done = ctx.memo.get(key)
        if done is not None:
            return done
        cf = self._flags.get(key)
        if cf is None:
            return self._error(
                key,
                None,
                ErrorCode.FLAG_NOT_FOUND,
                f"no flag {key!r} in config version {self.version}",
            )
        if cf.fixed is not None:
            return cf.fixed
        if key in ctx.stack or cf.cycle is not None:
            loop = " → ".join(cf.cycle or (*ctx.stack, key))
            return self._error(key, None, ErrorCode.GENERAL, f"prerequisite cycle: {loop}")
        ctx.stack.append(key)
        try:
            result = self._resolve_flag(cf, ctx)
        finally:
            ctx.stack.pop()
        ctx.memo[key] = result
        return result

    def _resolve_flag(self, cf: _CompiledFlag, ctx: _Context) -> FlagEvaluation:
        flag = cf.flag
        if flag.killed:
            return self._serve(cf, flag.off_variation, FlagReason.DISABLED, "flag is killed")
        for pre in flag.prerequisites:
            got = self._resolve(pre.key, ctx)
            if got.error_code is not None:
                return self._error(
                    flag.key, None, got.error_code, f"prerequisite {pre.key!r} failed: {got.detail}"
                )
            if got.variation != pre.variation:
                return self._serve(
                    cf,
                    flag.off_variation,
                    FlagReason.PREREQUISITE_FAILED,
                    f"prerequisite {pre.key!r} served {got.variation!r}, needs {pre.variation!r}",
                )
        for rule in cf.rules:
            outcome = self._apply_rule(cf, rule, ctx)
            if outcome is not None:
                return outcome
        served, held_back = self._apply_rollouts(cf, ctx)
        if served is not None:
            return served
        if cf.static:
            return self._serve(cf, flag.default_variation, FlagReason.STATIC, "static flag")
        return self._serve(
            cf,
            flag.default_variation,
            FlagReason.DEFAULT,
            "no rule or rollout applied",
            decision=held_back,
        )

    def _apply_rollouts(
        self, cf: _CompiledFlag, ctx: _Context
    ) -> tuple[FlagEvaluation | None, Decision | None]:
        """The evaluation served by an active rollout, else the held-back exposure to log."""
        held_back: Decision | None = None
        for rollout in cf.rollouts:
            state = rollout_state(rollout, ctx.now)
            if state.traffic_fraction <= 0:
                continue
            missing = self._unit(ctx, cf.flag.key)
            if missing is not None:
                return missing, None
            if includes(rollout, ctx.unit_id, state.traffic_fraction):
                served = self._serve(
                    cf,
                    rollout.variation,
                    FlagReason.SPLIT,
                    f"in rollout {rollout.key!r} at {state.traffic_fraction:.2%} "
                    f"(step {state.step_index}, {state.status})",
                    rollout=rollout.key,
                    decision=_rollout_exposure(rollout, state.step_index, rollout.variation),
                )
                return served, None
            if held_back is None:
                variation = cf.flag.default_variation
                held_back = _rollout_exposure(rollout, state.step_index, variation)
        return None, held_back

    def _apply_rule(self, cf: _CompiledFlag, rule: _Rule, ctx: _Context) -> FlagEvaluation | None:
        flag = cf.flag
        if rule.parse_error is not None:
            return self._error(flag.key, None, ErrorCode.PARSE_ERROR, rule.parse_error)
        if rule.predicate is not None:
            try:
                matched, _why = rule.predicate(ctx.attributes)
            except Exception as exc:  # a condition failing on odd attributes fails its flag
                evaluation_errors["condition"] += 1
                log.warning("flag %r rule %d condition failed: %r", flag.key, rule.index, exc)
                return self._error(
                    flag.key,
                    None,
                    ErrorCode.GENERAL,
                    f"rule {rule.index} condition failed: {type(exc).__name__}: {exc}",
                )
            if not matched:
                return None
        if rule.kind == "variation":
            return self._serve(
                cf,
                rule.variation or flag.default_variation,
                FlagReason.TARGETING_MATCH,
                f"rule {rule.index} matched",
                rule=rule.index,
            )
        missing = self._unit(ctx, flag.key)
        if missing is not None:
            return missing
        if rule.split is not None:
            b = bucket(flag.effective_salt, ctx.unit_id)
            return self._serve(
                cf,
                rule.split.variant_at(b),
                FlagReason.SPLIT,
                f"rule {rule.index} split: bucket {b}",
                rule=rule.index,
            )
        return self._delegate(cf, rule, ctx)

    def _delegate(self, cf: _CompiledFlag, rule: _Rule, ctx: _Context) -> FlagEvaluation | None:
        flag = cf.flag
        assigner = self._experiments()
        if assigner is None:
            return self._error(flag.key, None, ErrorCode.GENERAL, str(self._assigner_error))
        try:
            decision: Decision = assigner.decide(
                rule.experiment or "",
                ctx.unit_id,
                now=ctx.now,
                attributes=ctx.attributes,
                unit_type=ctx.unit_type,
            )
        except InvalidInput as exc:
            return self._error(
                flag.key,
                None,
                ErrorCode.GENERAL,
                f"rule {rule.index} experiment {rule.experiment!r}: {exc}",
            )
        if decision.variant is None:
            return None  # not in the experiment: the next rule decides
        value = decision.payload
        if value is None:
            value = flag.variations.get(decision.variant)
        if not flag_value_matches(flag.type, value):
            return self._error(
                flag.key,
                None,
                ErrorCode.TYPE_MISMATCH,
                f"experiment {rule.experiment!r} variant {decision.variant!r} serves "
                f"{value!r:.60}, not a {flag.type} value",
            )
        reason = (
            FlagReason.TARGETING_MATCH if decision.reason is Reason.OVERRIDE else FlagReason.SPLIT
        )
        return FlagEvaluation(
            flag=flag.key,
            value=value,
            variation=decision.variant,
            reason=reason,
            detail=f"rule {rule.index}: experiment {rule.experiment!r} {decision.reason}",
            rule=rule.index,
            decision=decision,
            config_version=self.version,
        )


def _rollout_exposure(rollout: Rollout, step_index: int, variation: str) -> Decision:
    """The exposure a rollout evaluation logs, for monitoring and auto-rollback.

    Monitoring compares the units that have the feature with those held back. The
    exposure is logged under the rollout key; its phase is the step number, so a unit
    that moves from held back to included when the rollout ramps is logged again (the
    monitor sees a crossover instead of counting a treated unit as control).
    """
    return Decision(
        experiment=rollout.key,
        variant=variation,
        reason=Reason.ASSIGNED,
        phase=step_index + 1,
        detail=f"rollout {rollout.key!r} step {step_index}",
    )
