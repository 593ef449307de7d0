"""Rollout evaluations log exposures under the rollout key, so the monitor can guard them."""

from __future__ import annotations

from datetime import timedelta

from abwb.assignment import Reason
from abwb.rollout import includes, rollout_state

from .test_evaluation import NOW, bool_flag, evaluator, rollout


def test_included_and_held_back_units_both_carry_a_rollout_exposure() -> None:
    r = rollout([(0.05, 1800), (0.25, 7200), (1.0, None)])  # one hour in: step 1, 25 %
    ev = evaluator(bool_flag(), rollouts=[r])
    state = rollout_state(r, NOW)
    seen = {"on": 0, "off": 0}
    for i in range(400):
        unit = f"u{i}"
        result = ev.evaluate("f", unit, {}, NOW, default=False)
        exposure = result.decision
        assert exposure is not None
        assert (exposure.experiment, exposure.reason, exposure.phase) == ("r", Reason.ASSIGNED, 2)
        expected = "on" if includes(r, unit, state.traffic_fraction) else "off"
        assert exposure.variant == result.variation == expected
        seen[expected] += 1
    assert 0.15 < seen["on"] / 400 < 0.35


def test_a_ramp_step_is_a_new_exposure_phase() -> None:
    r = rollout([(0.05, 1800), (0.25, 7200), (1.0, None)])
    ev = evaluator(bool_flag(), rollouts=[r])
    early = ev.evaluate("f", "u1", {}, NOW - timedelta(minutes=45), default=False).decision
    later = ev.evaluate("f", "u1", {}, NOW + timedelta(hours=3), default=False).decision
    assert early is not None and later is not None
    assert (early.phase, later.phase) == (1, 3)


def test_no_rollout_exposure_when_a_rule_decides_or_the_flag_is_killed() -> None:
    r = rollout([(0.5, None)])
    killed = evaluator(bool_flag(killed=True), rollouts=[r]).evaluate("f", "u1", {}, NOW)
    assert killed.decision is None
