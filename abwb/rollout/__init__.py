"""Gradual rollouts: schedule state, monotone inclusion and pure transitions."""

from abwb.rollout.schedule import (
    RolloutPhase,
    RolloutState,
    includes,
    rollout_state,
    step_progress,
)
from abwb.rollout.transitions import advance, complete, pause, resume, roll_back, start

__all__ = [
    "RolloutPhase",
    "RolloutState",
    "advance",
    "complete",
    "includes",
    "pause",
    "resume",
    "roll_back",
    "rollout_state",
    "start",
    "step_progress",
]
