"""Feature flags: evaluation (rules, splits, experiments, rollouts) and the kill switch."""

from abwb.flags.evaluation import ErrorCode, FlagEvaluation, FlagReason
from abwb.flags.evaluator import FlagEvaluator, default_condition_compiler, evaluation_errors
from abwb.flags.switch import FlagWriter, kill, revive, set_killed

__all__ = [
    "ErrorCode",
    "FlagEvaluation",
    "FlagEvaluator",
    "FlagReason",
    "FlagWriter",
    "default_condition_compiler",
    "evaluation_errors",
    "kill",
    "revive",
    "set_killed",
]
