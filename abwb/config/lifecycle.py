"""The experiment lifecycle: which status changes are legal, as one explicit table.

What belongs here: the state machine of :class:`~abwb.config.Experiment` statuses and
the pure :func:`transition` that applies an action. Checks that need other objects
(overlap with running experiments) live in :mod:`abwb.assignment.conflicts`; storing
the result and its audit row is the store's job.

::

    draft ──start──► running ──pause──► paused
    scheduled ─start─┘  ▲  │             │
                        └──┼───resume────┘
                           └──stop──► stopped ◄──stop── paused
    draft | scheduled | stopped ──archive──► archived
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

import msgspec

from abwb.config.experiment import Experiment, ExperimentStatus
from abwb.errors import Conflict, InvalidInput

__all__ = ["TRANSITIONS", "LifecycleAction", "allowed_actions", "transition"]

LifecycleAction = Literal["start", "pause", "resume", "stop", "archive"]

#: action → (statuses it may be taken from, status it leads to).
TRANSITIONS: dict[str, tuple[frozenset[str], ExperimentStatus]] = {
    "start": (frozenset({"draft", "scheduled"}), "running"),
    "pause": (frozenset({"running"}), "paused"),
    "resume": (frozenset({"paused"}), "running"),
    "stop": (frozenset({"running", "paused"}), "stopped"),
    "archive": (frozenset({"draft", "scheduled", "stopped"}), "archived"),
}


def allowed_actions(status: str) -> list[str]:
    """The actions legal from ``status``, in table order.

    Examples:
        >>> allowed_actions("running")
        ['pause', 'stop']
    """
    return [action for action, (sources, _) in TRANSITIONS.items() if status in sources]


def transition(experiment: Experiment, action: str, now: datetime) -> Experiment:
    """Apply a lifecycle ``action`` and return the experiment with its new status.

    Args:
        experiment: The experiment as stored.
        action: One of ``start``, ``pause``, ``resume``, ``stop``, ``archive``.
        now: Current time (timezone-aware); starting after the schedule's end is refused.

    Returns:
        A copy with the new status (everything else unchanged, version included).

    Raises:
        InvalidInput: unknown action or naive ``now``.
        Conflict: the action is illegal from the current status, or the schedule is over.

    Examples:
        >>> from datetime import UTC, datetime
        >>> from abwb.config import Variant
        >>> exp = Experiment(key="e", variants=[Variant(key="a", weight=.5, is_control=True),
        ...                                     Variant(key="b", weight=.5)])
        >>> transition(exp, "start", datetime(2026, 1, 1, tzinfo=UTC)).status
        'running'
        >>> try:
        ...     transition(exp, "pause", datetime(2026, 1, 1, tzinfo=UTC))
        ... except Conflict as exc:
        ...     print(exc.reasons)
        ["allowed actions from 'draft': ['start', 'archive']"]
    """
    if action not in TRANSITIONS:
        raise InvalidInput(
            f"unknown action {action!r}; expected one of {list(get_args(LifecycleAction))}",
            path="action",
        )
    if now.tzinfo is None:
        raise InvalidInput("must be timezone-aware", path="now")
    sources, target = TRANSITIONS[action]
    if experiment.status not in sources:
        legal = allowed_actions(experiment.status)
        raise Conflict(
            f"cannot {action} experiment {experiment.key!r}: its status is "
            f"{experiment.status!r}, and {action} needs one of {sorted(sources)}",
            reasons=[f"allowed actions from {experiment.status!r}: {legal or 'none'}"],
        )
    end = experiment.schedule.end_at
    if action in ("start", "resume") and end is not None and end <= now:
        raise Conflict(
            f"cannot {action} experiment {experiment.key!r}: its schedule ended at "
            f"{end.isoformat()}",
            reasons=["move schedule.end_at into the future first"],
        )
    return msgspec.structs.replace(experiment, status=target)
