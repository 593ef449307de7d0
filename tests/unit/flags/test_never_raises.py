"""Fuzzing: evaluation never raises, whatever the context or (unvalidated) config."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abwb.config import (
    ConfigBundle,
    Experiment,
    Flag,
    FlagRule,
    Prerequisite,
    Rollout,
    RolloutStep,
    SplitShare,
    Variant,
)
from abwb.flags import FlagEvaluator, FlagReason

KEYS = ["a", "b", "c", "d"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)
OPS = ["eq", "neq", "in", "not_in", "gt", "gte", "lt", "contains", "regex", "semver_gte", "exists", "bogus"]
clauses = st.builds(lambda a, op, v: {"attr": a, "op": op, "value": v},
                    st.sampled_from(["x", "y", "x.z"]), st.sampled_from(OPS), json_values)
conditions = st.one_of(
    st.none(),
    clauses,
    st.builds(lambda cs: {"all": cs}, st.lists(clauses, max_size=3)),
    st.builds(lambda cs: {"any": cs}, st.lists(clauses, max_size=3)),
    st.builds(lambda c: {"not": c}, clauses),
    st.just({"segment": "missing"}),
    json_values,  # garbage: must be a PARSE_ERROR, never an exception
)


@st.composite
def rules(draw: st.DrawFn) -> FlagRule:
    cond = draw(conditions)
    kind = draw(st.sampled_from(["variation", "split", "experiment"]))
    if kind == "variation":
        return FlagRule(condition=cond, variation=draw(st.sampled_from(["on", "off"])))
    if kind == "split":
        w = draw(st.floats(0, 1))
        return FlagRule(condition=cond, split=[SplitShare("on", w), SplitShare("off", 1 - w)])
    return FlagRule(condition=cond, experiment=draw(st.sampled_from(["exp", "missing"])))


@st.composite
def flags(draw: st.DrawFn, key: str) -> Flag:
    return Flag(
        key=key, type="bool", variations={"on": True, "off": False},
        default_variation=draw(st.sampled_from(["on", "off"])), off_variation="off",
        rules=draw(st.lists(rules(), max_size=3)),
        prerequisites=[Prerequisite(k, draw(st.sampled_from(["on", "off", "nope"])))
                       for k in draw(st.lists(st.sampled_from([*KEYS, "ghost"]), max_size=2)) if k != key],
        killed=draw(st.booleans()),
    )


@st.composite
def bundles(draw: st.DrawFn) -> ConfigBundle:
    exp = Experiment(key="exp", status=draw(st.sampled_from(["running", "paused", "draft"])),
                     variants=[Variant(key="control", weight=0.5, is_control=True,
                                       payload=draw(st.sampled_from([None, True, "str", 3]))),
                               Variant(key="on", weight=0.5)])
    rollouts = []
    if draw(st.booleans()):
        t0 = datetime(2026, 1, 1, tzinfo=UTC)
        rollouts.append(Rollout(key="r", flag_key=draw(st.sampled_from(KEYS)), variation="on",
                                status="active", started_at=t0,
                                steps=[RolloutStep(traffic_fraction=0.1, hold_s=3600),
                                       RolloutStep(traffic_fraction=0.5, min_units=10)]))
    # Built directly: no cross-reference validation, so cycles and dangling refs happen.
    return ConfigBundle(experiments=[exp], flags=[draw(flags(k)) for k in KEYS], rollouts=rollouts)


unit_ids = st.one_of(st.none(), st.text(max_size=8), st.just(""), st.just("x" * 600),
                     st.integers(), st.lists(st.integers(), max_size=2))
attributes = st.one_of(st.none(), st.dictionaries(st.sampled_from(["x", "y", "z"]), json_values, max_size=3),
                       st.lists(st.integers(), max_size=2), st.text(max_size=3), st.integers())
nows = st.one_of(st.datetimes(timezones=st.just(UTC)), st.datetimes(), st.none(), st.text(max_size=3))
defaults = st.one_of(st.none(), json_values)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bundle=bundles(), key=st.one_of(st.sampled_from([*KEYS, "nope"]), st.integers()),
       unit=unit_ids, attrs=attributes, now=nows, default=defaults,
       expected=st.sampled_from([None, "bool", "string", "number", "json"]))
def test_evaluate_never_raises(bundle: ConfigBundle, key: Any, unit: Any, attrs: Any, now: Any,
                               default: Any, expected: Any) -> None:
    ev = FlagEvaluator(bundle)
    e = ev.evaluate(key, unit, attrs, now, default=default, expected_type=expected)
    if e.error_code is not None:
        assert e.reason is FlagReason.ERROR and e.value is default and e.variation is None
        assert e.detail and "internal error" not in e.detail, e.detail
    else:
        assert e.reason is not FlagReason.ERROR
        assert e.value in (True, False) or e.decision is not None


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bundle=bundles(), unit=unit_ids, attrs=attributes,
       offset_s=st.integers(-10**6, 10**7))
def test_evaluate_all_never_raises_and_agrees_with_evaluate(bundle: ConfigBundle, unit: Any, attrs: Any,
                                                            offset_s: int) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=offset_s)
    ev = FlagEvaluator(bundle)
    out = ev.evaluate_all(unit, attrs, now)
    assert list(out) == KEYS
    for k, e in out.items():
        assert "internal error" not in e.detail, e.detail
        single = ev.evaluate(k, unit, attrs, now)
        assert (single.value, single.variation, single.reason, single.error_code) == (
            e.value, e.variation, e.reason, e.error_code)
