"""What a flag evaluation answers: the value served, the variation, why, and any error.

The vocabulary follows OpenFeature so that providers map one-to-one: reasons
``STATIC``, ``TARGETING_MATCH``, ``SPLIT``, ``DISABLED``, ``DEFAULT``, ``ERROR`` (plus
``PREREQUISITE_FAILED``, which OpenFeature reports as ``DISABLED``), and error codes
``FLAG_NOT_FOUND``, ``TYPE_MISMATCH``, ``PARSE_ERROR``, ``TARGETING_KEY_MISSING``,
``INVALID_CONTEXT``, ``GENERAL``. An evaluation with an error code carries the caller's
default as its value.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec

from abwb.assignment.decision import Decision

__all__ = ["ErrorCode", "FlagEvaluation", "FlagReason"]


class FlagReason(StrEnum):
    """Why a flag served its value."""

    #: The flag has no rules, prerequisites or rollouts: everyone gets the default.
    STATIC = "STATIC"
    #: A rule's condition matched and named a variation (or an experiment override).
    TARGETING_MATCH = "TARGETING_MATCH"
    #: A hash decided: a percentage split, an experiment variant, or a rollout.
    SPLIT = "SPLIT"
    #: The flag is killed: the off variation is served to everyone.
    DISABLED = "DISABLED"
    #: A prerequisite flag did not serve the required variation: off variation served.
    PREREQUISITE_FAILED = "PREREQUISITE_FAILED"
    #: No rule or rollout applied: the default variation.
    DEFAULT = "DEFAULT"
    #: Evaluation failed; the caller's default is served and ``error_code`` says why.
    ERROR = "ERROR"


class ErrorCode(StrEnum):
    """What went wrong in an evaluation that served the caller's default."""

    FLAG_NOT_FOUND = "FLAG_NOT_FOUND"
    TYPE_MISMATCH = "TYPE_MISMATCH"
    PARSE_ERROR = "PARSE_ERROR"
    TARGETING_KEY_MISSING = "TARGETING_KEY_MISSING"
    INVALID_CONTEXT = "INVALID_CONTEXT"
    GENERAL = "GENERAL"


class FlagEvaluation(msgspec.Struct, frozen=True, kw_only=True):
    """One flag's answer for one unit.

    Attributes:
        flag: The flag key asked for.
        value: The value served (the caller's default when ``error_code`` is set).
        variation: The flag variation (or experiment variant) served; ``None`` on error.
        reason: Why.
        error_code: Set when evaluation failed.
        detail: Human-readable explanation (which rule, rollout step, prerequisite...).
        rule: Index of the rule that decided, if one did.
        rollout: Key of the rollout that served the value, if one did.
        decision: The experiment decision when a rule delegated to an experiment (the
            caller logs it as an exposure when ``decision.in_experiment``).
        config_version: Version of the config snapshot that answered.
    """

    flag: str
    value: Any
    variation: str | None
    reason: FlagReason
    error_code: ErrorCode | None = None
    detail: str = ""
    rule: int | None = None
    rollout: str | None = None
    decision: Decision | None = None
    config_version: int = 0
