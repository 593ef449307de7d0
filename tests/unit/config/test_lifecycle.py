"""The experiment state machine: every legal move, every illegal one, schedule guard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from abwb.config import Experiment, Schedule, Variant
from abwb.config.lifecycle import TRANSITIONS, allowed_actions, transition
from abwb.errors import Conflict, InvalidInput

NOW = datetime(2026, 6, 1, tzinfo=UTC)
STATUSES = ["draft", "scheduled", "running", "paused", "stopped", "archived"]
LEGAL = {
    ("draft", "start"): "running",
    ("scheduled", "start"): "running",
    ("running", "pause"): "paused",
    ("paused", "resume"): "running",
    ("running", "stop"): "stopped",
    ("paused", "stop"): "stopped",
    ("draft", "archive"): "archived",
    ("scheduled", "archive"): "archived",
    ("stopped", "archive"): "archived",
}


def experiment(status: str, **extra: object) -> Experiment:
    return Experiment(
        key="e",
        status=status,  # type: ignore[arg-type]
        variants=[Variant(key="a", weight=0.5, is_control=True), Variant(key="b", weight=0.5)],
        **extra,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", list(TRANSITIONS))
def test_every_status_action_pair(status: str, action: str) -> None:
    exp = experiment(status)
    if (status, action) in LEGAL:
        moved = transition(exp, action, NOW)
        assert moved.status == LEGAL[status, action]
        assert moved.version == exp.version and moved.variants == exp.variants
        assert action in allowed_actions(status)
    else:
        with pytest.raises(Conflict) as info:
            transition(exp, action, NOW)
        assert repr(status) in str(info.value)
        assert action not in allowed_actions(status)


def test_archived_is_terminal() -> None:
    assert allowed_actions("archived") == []


def test_unknown_action_and_naive_now() -> None:
    with pytest.raises(InvalidInput) as info:
        transition(experiment("draft"), "launch", NOW)
    assert info.value.problems[0].path == "action"
    with pytest.raises(InvalidInput):
        transition(experiment("draft"), "start", datetime(2026, 6, 1))


def test_cannot_start_or_resume_after_schedule_end() -> None:
    ended = Schedule(start_at=NOW - timedelta(days=9), end_at=NOW - timedelta(days=1))
    for status, action in (("draft", "start"), ("paused", "resume")):
        with pytest.raises(Conflict, match="schedule ended"):
            transition(experiment(status, schedule=ended), action, NOW)
    assert transition(experiment("running", schedule=ended), "stop", NOW).status == "stopped"
