"""An OpenFeature provider over abwb flags, so services use the standard client.

Usage::

    from openfeature import api
    from abwb.openfeature import AbwbProvider

    api.set_provider(AbwbProvider(holder, stale_after_s=300))   # a ConfigSnapshotHolder
    client = api.get_client()
    client.get_boolean_value("new-checkout", False,
                             EvaluationContext("user-42", {"country": "DE"}))

The targeting key is the unit id; the attribute ``unit_type`` (if a string) selects the
unit type for experiment delegation. abwb reasons map to OpenFeature reasons one to one
(``PREREQUISITE_FAILED`` is reported as ``DISABLED``). Staleness has one source of
truth, the snapshot holder's :attr:`~abwb.snapshot.ConfigSnapshotHolder.age_s` (seconds
since the snapshot was installed or last confirmed current by a refresh): past
``stale_after_s`` the value is still served, with reason ``STALE``. The abwb reason,
detail, config version, rule, rollout and experiment decision travel in
``flag_metadata``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from abwb.errors import InvalidInput
from abwb.flags.evaluation import FlagEvaluation, FlagReason
from abwb.flags.evaluator import FlagEvaluator

try:
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.event import ProviderEventDetails
    from openfeature.exception import ErrorCode as OFErrorCode
    from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType
    from openfeature.flag_evaluation import Reason as OFReason
    from openfeature.provider import AbstractProvider, Metadata
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "abwb.openfeature needs the OpenFeature SDK: pip install 'abwb[openfeature]'"
    ) from exc

__all__ = ["REASONS", "AbwbProvider", "EvaluatorSource", "SnapshotSource"]

log = logging.getLogger(__name__)

#: Returns the evaluator of the current config snapshot.
EvaluatorSource = Callable[[], FlagEvaluator]


class _Snapshot(Protocol):
    @property
    def flags(self) -> FlagEvaluator: ...


class SnapshotSource(Protocol):
    """What the provider reads from a :class:`~abwb.snapshot.ConfigSnapshotHolder`."""

    @property
    def current(self) -> _Snapshot:
        """The snapshot to serve (its ``flags`` evaluator answers)."""
        ...

    @property
    def age_s(self) -> float:
        """Seconds since the snapshot was installed or last confirmed current."""
        ...

#: abwb reason → OpenFeature reason.
REASONS: Mapping[FlagReason, str] = {
    FlagReason.STATIC: OFReason.STATIC,
    FlagReason.TARGETING_MATCH: OFReason.TARGETING_MATCH,
    FlagReason.SPLIT: OFReason.SPLIT,
    FlagReason.DISABLED: OFReason.DISABLED,
    FlagReason.PREREQUISITE_FAILED: OFReason.DISABLED,
    FlagReason.DEFAULT: OFReason.DEFAULT,
    FlagReason.ERROR: OFReason.ERROR,
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AbwbProvider(AbstractProvider):
    """OpenFeature provider answering from an abwb :class:`FlagEvaluator`.

    Args:
        source: A snapshot holder (the evaluator of its current snapshot answers and its
            ``age_s`` says how fresh it is), an evaluator, or a callable returning the
            current evaluator.
        stale_after_s: Report reason ``STALE`` when the snapshot is older than this.
        age_s: Seconds since the snapshot was confirmed current, for an evaluator or
            callable source (a holder's own ``age_s`` is used otherwise).
        clock: The time used for rollouts and schedules.

    Raises:
        InvalidInput: ``stale_after_s`` is negative, or set when the age of the
            snapshot cannot be known (an evaluator or callable without ``age_s``).
    """

    def __init__(
        self,
        source: SnapshotSource | FlagEvaluator | EvaluatorSource,
        *,
        stale_after_s: float | None = None,
        age_s: Callable[[], float] | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        super().__init__()
        if isinstance(source, FlagEvaluator):
            fixed = source
            self._source: EvaluatorSource = lambda: fixed
        elif callable(source):
            self._source = source
        else:
            holder = source
            self._source = lambda: holder.current.flags
            age_s = age_s or (lambda: holder.age_s)
        if stale_after_s is not None:
            if not stale_after_s >= 0:
                raise InvalidInput(f"must be >= 0 seconds, got {stale_after_s!r}",
                                   path="stale_after_s")
            if age_s is None:
                raise InvalidInput(
                    "needs the snapshot's age: pass a ConfigSnapshotHolder as the source, "
                    "or age_s=...", path="stale_after_s")
        self._stale_after_s = stale_after_s
        self._age_s = age_s
        self._clock = clock
        self._seen_version: int | None = None

    def get_metadata(self) -> Metadata:
        """Provider name shown by OpenFeature tooling."""
        return Metadata(name="abwb")

    # -- typed resolutions -------------------------------------------------------------

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        """Resolve a ``bool`` flag."""
        return self._resolve(flag_key, default_value, evaluation_context, "bool", _as_bool)

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        """Resolve a ``string`` flag."""
        return self._resolve(flag_key, default_value, evaluation_context, "string", _as_str)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        """Resolve a ``number`` flag whose value is integral."""
        return self._resolve(flag_key, default_value, evaluation_context, "number", _as_int)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        """Resolve a ``number`` flag as a float."""
        return self._resolve(flag_key, default_value, evaluation_context, "number", _as_float)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        """Resolve a ``json`` flag whose value is an object or a list."""
        return self._resolve(flag_key, default_value, evaluation_context, "json", _as_object)

    # -- shared path -------------------------------------------------------------------

    def _resolve(
        self,
        flag_key: str,
        default: Any,
        context: EvaluationContext | None,
        flag_type: Any,
        convert: Callable[[Any], tuple[bool, Any]],
    ) -> FlagResolutionDetails[Any]:
        try:
            evaluator = self._source()
        except Exception as exc:  # the snapshot holder failed: serve the default, say so
            log.warning("abwb snapshot unavailable for flag %r: %s", flag_key, exc)
            return FlagResolutionDetails(
                value=default,
                reason=OFReason.ERROR,
                error_code=OFErrorCode.PROVIDER_NOT_READY,
                error_message=f"no config snapshot: {exc}",
            )
        self._note_version(evaluator)
        ctx = context or EvaluationContext()
        attributes = dict(ctx.attributes or {})
        unit_type = attributes.get("unit_type")
        now = self._clock()
        evaluation = evaluator.evaluate(
            flag_key,
            ctx.targeting_key,
            attributes,
            now,
            expected_type=flag_type,
            unit_type=unit_type if isinstance(unit_type, str) else "user",
        )
        metadata = _metadata(evaluation)
        if evaluation.error_code is not None:
            return FlagResolutionDetails(
                value=default,
                reason=OFReason.ERROR,
                error_code=OFErrorCode(evaluation.error_code.value),
                error_message=evaluation.detail,
                flag_metadata=metadata,
            )
        ok, value = convert(evaluation.value)
        if not ok:
            return FlagResolutionDetails(
                value=default,
                reason=OFReason.ERROR,
                error_code=OFErrorCode.TYPE_MISMATCH,
                error_message=f"flag {flag_key!r} served {evaluation.value!r:.60}, "
                f"which is not of the requested type",
                flag_metadata=metadata,
            )
        reason = REASONS[evaluation.reason]
        if self._is_stale():
            reason = OFReason.STALE
        return FlagResolutionDetails(
            value=value,
            reason=reason,
            variant=evaluation.variation,
            flag_metadata=metadata,
        )

    def _is_stale(self) -> bool:
        if self._stale_after_s is None or self._age_s is None:
            return False
        return self._age_s() > self._stale_after_s

    def _note_version(self, evaluator: FlagEvaluator) -> None:
        if self._seen_version is not None and evaluator.version != self._seen_version:
            self.emit_provider_configuration_changed(
                ProviderEventDetails(
                    flags_changed=evaluator.flag_keys,
                    message=f"abwb config version {evaluator.version}",
                )
            )
        self._seen_version = evaluator.version


def _metadata(evaluation: FlagEvaluation) -> dict[str, bool | int | float | str]:
    out: dict[str, bool | int | float | str] = {
        "config_version": evaluation.config_version,
        "abwb_reason": evaluation.reason.value,
        "detail": evaluation.detail,
    }
    if evaluation.rule is not None:
        out["rule"] = evaluation.rule
    if evaluation.rollout is not None:
        out["rollout"] = evaluation.rollout
    if evaluation.decision is not None:
        out["experiment"] = evaluation.decision.experiment
        out["experiment_variant"] = evaluation.decision.variant or ""
        out["in_experiment"] = evaluation.decision.in_experiment
    return out


def _as_bool(value: Any) -> tuple[bool, Any]:
    return isinstance(value, bool), value


def _as_str(value: Any) -> tuple[bool, Any]:
    return isinstance(value, str), value


def _as_int(value: Any) -> tuple[bool, Any]:
    if isinstance(value, bool):
        return False, value
    if isinstance(value, int):
        return True, value
    if isinstance(value, float) and value.is_integer():
        return True, int(value)
    return False, value


def _as_float(value: Any) -> tuple[bool, Any]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False, value
    return True, float(value)


def _as_object(value: Any) -> tuple[bool, Any]:
    return isinstance(value, dict | list), value
