"""Guarded actions the monitor takes on its own: roll back a rollout, pause an experiment.

What belongs here: the two write paths of the monitor. Each reads the current
object, applies the pure transition (:func:`abwb.rollout.roll_back`, or the status
change to ``paused``), and persists it through ``ConfigStore.update`` with the
version it read, so a concurrent edit is never overwritten (a
:class:`~abwb.errors.VersionConflict` is retried once with a fresh read). The
audit entry carries the actor (``abwb-monitor``) and the evidence as the reason.
"""

from __future__ import annotations

from typing import Any

import msgspec

from abwb.errors import VersionConflict
from abwb.monitoring.alerts import Finding
from abwb.rollout import roll_back

__all__ = ["evidence_reason", "pause_experiment", "roll_back_rollout"]


def evidence_reason(finding: Finding) -> str:
    """The audit reason for an action: the finding's message and its key numbers.

    Args:
        finding: The firing finding that triggered the action.

    Returns:
        One line, e.g. ``"guardrail:r:errors:on: ... [p=0.0012, n control 900 / on 910]"``.
    """
    ev = finding.evidence
    units = " / ".join(f"{variant} {count:,}" for variant, count in (ev.n or {}).items())
    numbers = [f"p={ev.p_value:.3g}" if ev.p_value is not None else "",
               f"threshold={ev.threshold:.3g}", f"n {units}" if units else ""]
    if ev.effect_rel is not None:
        numbers.append(f"effect {ev.effect_rel:+.1%}")
    if ev.ci_low_rel is not None or ev.ci_high_rel is not None:
        numbers.append(f"CI [{_bound(ev.ci_low_rel)}, {_bound(ev.ci_high_rel)}]")
    detail = ", ".join(n for n in numbers if n)
    return f"{finding.dedup_key}: {finding.message} [{detail}]"


def _bound(value: float | None) -> str:
    # an open side of a one-sided interval is stored as None
    return "open" if value is None else f"{value:+.1%}"


def roll_back_rollout(config_store: Any, key: str, finding: Finding, *, actor: str) -> Any:
    """Roll back rollout ``key`` (its variation is withdrawn from everyone) and persist it.

    Args:
        config_store: The ``ConfigStore``.
        key: Rollout key.
        finding: The guardrail finding that justifies it (recorded in the audit reason).
        actor: Audit actor.

    Returns:
        The stored rollout (unchanged when it was already rolled back).

    Raises:
        NotFound, Conflict, StorageError: from the store or the transition.
    """
    reason = evidence_reason(finding)
    for attempt in range(2):
        rollout = config_store.get("rollout", key)
        updated = roll_back(rollout, reason)
        if updated == rollout:
            return rollout
        try:
            return config_store.update(
                "rollout", updated, expected_version=rollout.version, actor=actor, reason=reason
            )
        except VersionConflict:
            if attempt:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def pause_experiment(config_store: Any, key: str, finding: Finding, *, actor: str) -> Any:
    """Pause running experiment ``key`` (it stops assigning) and persist it.

    Args:
        config_store: The ``ConfigStore``.
        key: Experiment key.
        finding: The SRM finding that justifies it.
        actor: Audit actor.

    Returns:
        The stored experiment (unchanged unless it was running).

    Raises:
        NotFound, StorageError, VersionConflict: from the store.
    """
    reason = evidence_reason(finding)
    for attempt in range(2):
        experiment = config_store.get("experiment", key)
        if experiment.status != "running":
            return experiment
        updated = msgspec.structs.replace(experiment, status="paused")
        try:
            return config_store.update(
                "experiment", updated, expected_version=experiment.version, actor=actor,
                reason=reason,
            )
        except VersionConflict:
            if attempt:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
