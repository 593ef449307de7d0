"""Rollout state from the schedule and the clock; pure transitions; monotone inclusion."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abwb.assignment import bucket
from abwb.config import Rollout, RolloutStep
from abwb.errors import Conflict, InvalidInput
from abwb.rollout import (
    advance,
    complete,
    includes,
    pause,
    resume,
    roll_back,
    rollout_state,
    start,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
H = 3600.0


def ramp(**kw: Any) -> Rollout:
    base: dict[str, Any] = {"key": "r", "flag_key": "f", "variation": "on", "steps": [
        RolloutStep(traffic_fraction=0.01, hold_s=H),
        RolloutStep(traffic_fraction=0.05, hold_s=2 * H),
        RolloutStep(traffic_fraction=0.25, hold_s=H),
        RolloutStep(traffic_fraction=0.5, hold_s=H),
        RolloutStep(traffic_fraction=1.0),
    ]}
    base.update(kw)
    return Rollout(**base)


@pytest.mark.parametrize(("hours", "step", "fraction", "next_h"), [
    (0, 0, 0.01, 1), (0.99, 0, 0.01, 1), (1, 1, 0.05, 3), (2.5, 1, 0.05, 3),
    (3, 2, 0.25, 4), (4.5, 3, 0.5, 5), (5, 4, 1.0, None), (500, 4, 1.0, None),
])
def test_time_held_steps_follow_the_clock(hours: float, step: int, fraction: float, next_h: float | None) -> None:
    r = start(ramp(), T0)
    s = rollout_state(r, T0 + timedelta(hours=hours))
    assert (s.step_index, s.traffic_fraction, s.status) == (step, fraction, "active")
    assert s.next_step_at == (None if next_h is None else T0 + timedelta(hours=next_h))


@pytest.mark.parametrize(("rollout", "fraction", "status"), [
    (ramp(), 0.0, "draft"),
    (ramp(status="active", started_at=T0 + timedelta(days=1)), 0.0, "scheduled"),
    (ramp(status="completed", started_at=T0), 1.0, "completed"),
    (ramp(status="rolled_back", started_at=T0, step_index=3), 0.0, "rolled_back"),
])
def test_status_decides_outside_the_active_ramp(rollout: Rollout, fraction: float, status: str) -> None:
    s = rollout_state(rollout, T0 + timedelta(hours=2))
    assert (s.traffic_fraction, s.status) == (fraction, status)


def test_paused_time_does_not_count_toward_holds() -> None:
    r = start(ramp(), T0)
    r = pause(r, T0 + timedelta(minutes=30), reason="investigating")
    frozen = rollout_state(r, T0 + timedelta(hours=10))
    assert (frozen.step_index, frozen.traffic_fraction, frozen.status, frozen.next_step_at) == (0, 0.01, "paused", None)
    r = resume(r, T0 + timedelta(hours=2))  # paused for 1.5 h
    assert r.paused_s == 1.5 * H and r.status == "active"
    assert rollout_state(r, T0 + timedelta(hours=2, minutes=29)).step_index == 0
    s = rollout_state(r, T0 + timedelta(hours=2, minutes=30))
    assert (s.step_index, s.next_step_at) == (1, T0 + timedelta(hours=4, minutes=30))


def test_sample_gates_wait_for_advance_with_units_seen() -> None:
    r = start(ramp(steps=[RolloutStep(traffic_fraction=0.05, hold_s=H, min_units=1000),
                          RolloutStep(traffic_fraction=0.25, hold_s=H),
                          RolloutStep(traffic_fraction=1.0)]), T0)
    later = T0 + timedelta(hours=5)
    s = rollout_state(r, later)  # the evaluator cannot count units: it waits
    assert (s.step_index, s.status, s.units_needed, s.next_step_at) == (0, "waiting", 1000, None)
    assert advance(r, later, units_seen=999) is r
    r2 = advance(r, later, units_seen=1000)
    assert (r2.step_index, r2.step_started_at) == (1, later)  # the next hold starts now, not at hour 1
    assert rollout_state(r2, later + timedelta(minutes=59)).traffic_fraction == 0.25
    assert rollout_state(r2, later + timedelta(hours=1)).traffic_fraction == 1.0


def test_sample_gate_with_unmet_hold_reports_when_the_hold_ends() -> None:
    r = start(ramp(steps=[RolloutStep(traffic_fraction=0.05, hold_s=H, min_units=10),
                          RolloutStep(traffic_fraction=1.0)]), T0)
    s = rollout_state(r, T0 + timedelta(minutes=10), units_seen=50)
    assert (s.step_index, s.status, s.next_step_at) == (0, "active", T0 + timedelta(hours=1))


def test_advance_records_time_progress_exactly() -> None:
    r = start(ramp(), T0)
    now = T0 + timedelta(hours=3, minutes=20)
    r2 = advance(r, now)
    assert (r2.step_index, r2.step_started_at) == (2, T0 + timedelta(hours=3))
    for minutes in (0, 39, 40, 100, 200):
        t = now + timedelta(minutes=minutes)
        assert rollout_state(r2, t) == rollout_state(r, t)


def test_transitions_refuse_illegal_moves_naming_the_status() -> None:
    r = ramp()
    with pytest.raises(Conflict, match="cannot resume rollout 'r': status is 'draft'"):
        resume(r, T0)
    with pytest.raises(Conflict, match="cannot roll back"):
        roll_back(r, "nothing released")
    active = start(r, T0)
    with pytest.raises(Conflict, match="cannot start"):
        start(active, T0)
    with pytest.raises(InvalidInput, match="reason: must say why"):
        roll_back(active, "  ")
    with pytest.raises(InvalidInput, match="now: must be timezone-aware"):
        pause(active, datetime(2026, 1, 1))
    with pytest.raises(InvalidInput, match="units_seen: must be >= 0"):
        advance(active, T0, units_seen=-1)
    with pytest.raises(InvalidInput, match="paused_at: is required when status is 'paused'"):
        ramp(status="paused", started_at=T0)


def test_roll_back_and_complete() -> None:
    r = start(ramp(guardrails=["error_rate"], auto_rollback=True), T0)
    back = roll_back(r, "guardrail error_rate harmed")
    assert back.status == "rolled_back" and back.status_reason == "guardrail error_rate harmed"
    assert roll_back(back, "again") is back  # idempotent for the monitoring job
    assert rollout_state(back, T0 + timedelta(hours=9)).traffic_fraction == 0.0
    done = complete(pause(r, T0 + timedelta(minutes=1)))
    assert (done.status, done.paused_at, rollout_state(done, T0).traffic_fraction) == ("completed", None, 1.0)
    assert roll_back(done, "late regression").status == "rolled_back"


@settings(max_examples=200, deadline=None)
@given(unit=st.text(min_size=1, max_size=20), a=st.floats(0, 1), b=st.floats(0, 1), salt=st.text(max_size=8))
def test_inclusion_is_monotone_in_the_fraction(unit: str, a: float, b: float, salt: str) -> None:
    low, high = sorted((a, b))
    r = ramp(salt=salt)
    assert not includes(r, unit, low) or includes(r, unit, high)


@settings(max_examples=100, deadline=None)
@given(holds=st.lists(st.floats(0, 10 * H), min_size=1, max_size=5), t1=st.floats(0, 100 * H),
       t2=st.floats(0, 100 * H), pause_at=st.one_of(st.none(), st.floats(0, 50 * H)))
def test_fraction_never_decreases_with_time(holds: list[float], t1: float, t2: float, pause_at: float | None) -> None:
    fractions = sorted({round(0.1 + 0.9 * i / len(holds), 3) for i in range(len(holds))})
    steps = [RolloutStep(traffic_fraction=f, hold_s=h) for f, h in zip(fractions, holds, strict=False)]
    r = start(ramp(steps=steps), T0)
    early, late = sorted((t1, t2))
    if pause_at is not None and pause_at <= early:
        r = pause(r, T0 + timedelta(seconds=pause_at))
    fa = rollout_state(r, T0 + timedelta(seconds=early)).traffic_fraction
    fb = rollout_state(r, T0 + timedelta(seconds=late)).traffic_fraction
    assert fa <= fb


@pytest.mark.slow  # starts a Python process
def test_inclusion_is_the_same_in_another_process() -> None:
    units = [f"user-{i}" for i in range(500)] + ["ünïcødé", "a:b", " "]
    code = (
        "import json, sys\n"
        "from abwb.config import Rollout, RolloutStep\n"
        "from abwb.rollout import includes\n"
        "units = json.loads(sys.stdin.read())\n"
        "r = Rollout(key='r', flag_key='f', variation='on', steps=[RolloutStep(traffic_fraction=1.0)])\n"
        "print(json.dumps([[includes(r, u, f) for f in (0.01, 0.05, 0.25, 0.5)] for u in units]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(units), capture_output=True,
                         text=True, check=True, env={"PYTHONHASHSEED": "12345", "PATH": ""})
    r = ramp()
    here = [[includes(r, u, f) for f in (0.01, 0.05, 0.25, 0.5)] for u in units]
    assert json.loads(out.stdout) == here
    assert here == [[bucket("rollout:r", u) < f * 10000 for f in (0.01, 0.05, 0.25, 0.5)] for u in units]
