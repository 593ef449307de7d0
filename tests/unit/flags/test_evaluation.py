"""Flag evaluation tables: kill, prerequisites, rules, splits, experiments, rollouts, defaults."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from abwb.assignment import Assigner, Predicate, bucket
from abwb.config import (
    ConfigBundle,
    Experiment,
    Flag,
    FlagRule,
    Prerequisite,
    Rollout,
    RolloutStep,
    Segment,
    SplitShare,
    Variant,
)
from abwb.flags import ErrorCode, FlagEvaluator, FlagReason

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
ONOFF = {"on": True, "off": False}


def bool_flag(key: str = "f", **kw: Any) -> Flag:
    base: dict[str, Any] = {"key": key, "type": "bool", "variations": ONOFF,
                            "default_variation": "off", "off_variation": "off"}
    base.update(kw)
    return Flag(**base)


def evaluator(*flags: Flag, **kw: Any) -> FlagEvaluator:
    return FlagEvaluator(ConfigBundle(flags=list(flags), **kw))  # the real targeting compiler


def test_static_flag_serves_its_default_to_everyone() -> None:
    e = evaluator(bool_flag(default_variation="on")).evaluate("f", None, {}, NOW, default=False)
    assert (e.value, e.variation, e.reason, e.error_code) == (True, "on", FlagReason.STATIC, None)


def test_no_rule_matching_serves_default() -> None:
    flag = bool_flag(rules=[FlagRule(condition={"attr": "plan", "op": "eq", "value": "pro"}, variation="on")])
    e = evaluator(flag).evaluate("f", "u1", {"plan": "free"}, NOW, default=True)
    assert (e.value, e.variation, e.reason) == (False, "off", FlagReason.DEFAULT)


@pytest.mark.parametrize(("attrs", "variation", "rule"), [
    ({"country": "DE", "plan": "pro"}, "de", 0),   # first matching rule wins
    ({"country": "FR", "plan": "pro"}, "pro", 1),
    ({"country": "FR", "plan": "team"}, "pro", 1),
    ({"country": "FR", "plan": "free"}, "base", None),
    ({}, "base", None),
])
def test_ordered_rules_first_match_wins(attrs: dict[str, str], variation: str, rule: int | None) -> None:
    flag = Flag(key="banner", type="string", variations={"de": "Hallo", "pro": "Hi pro", "base": "Hi"},
                default_variation="base", off_variation="base",
                rules=[FlagRule(condition={"attr": "country", "op": "eq", "value": "DE"}, variation="de"),
                       FlagRule(condition={"attr": "plan", "op": "in", "value": ["pro", "team"]}, variation="pro")])
    e = evaluator(flag).evaluate("banner", "u1", attrs, NOW, default="x")
    assert (e.variation, e.rule) == (variation, rule)
    assert e.reason == (FlagReason.TARGETING_MATCH if rule is not None else FlagReason.DEFAULT)
    assert e.value == flag.variations[variation]


def test_kill_switch_serves_off_to_everyone_before_any_rule() -> None:
    flag = bool_flag(default_variation="on", killed=True,
                     rules=[FlagRule(variation="on")],
                     prerequisites=[Prerequisite("missing-is-fine-when-killed", "on")])
    ev = FlagEvaluator(_unvalidated(flags=[flag]))
    for unit in ("u1", "u2", None):
        e = ev.evaluate("f", unit, {}, NOW, default=True)
        assert (e.value, e.variation, e.reason, e.error_code) == (False, "off", FlagReason.DISABLED, None)


def _unvalidated(**sections: Any) -> ConfigBundle:
    """A bundle built directly (no cross-reference validation), like a corrupt snapshot."""
    return ConfigBundle(**sections)


@pytest.mark.parametrize(("parent", "variation", "reason"), [
    (bool_flag("parent", default_variation="on"), "on", FlagReason.DEFAULT),
    (bool_flag("parent", default_variation="off"), "off", FlagReason.PREREQUISITE_FAILED),
    (bool_flag("parent", default_variation="on", killed=True), "off", FlagReason.PREREQUISITE_FAILED),
])
def test_prerequisites(parent: Flag, variation: str, reason: FlagReason) -> None:
    child = bool_flag("child", default_variation="on", prerequisites=[Prerequisite("parent", "on")])
    e = evaluator(parent, child).evaluate("child", "u1", {}, NOW, default=False)
    assert (e.variation, e.reason) == (variation, reason)
    if reason is FlagReason.PREREQUISITE_FAILED:
        assert "prerequisite 'parent' served 'off', needs 'on'" in e.detail


def test_prerequisite_chain_and_shared_prerequisite_in_evaluate_all() -> None:
    a = bool_flag("a", default_variation="on")
    b = bool_flag("b", default_variation="on", prerequisites=[Prerequisite("a", "on")])
    c = bool_flag("c", default_variation="on", prerequisites=[Prerequisite("b", "on"), Prerequisite("a", "on")])
    out = evaluator(a, b, c).evaluate_all("u1", {}, NOW)
    assert [out[k].value for k in "abc"] == [True, True, True]
    out = evaluator(a, bool_flag("b", default_variation="off", prerequisites=[Prerequisite("a", "on")]), c).evaluate_all("u1", {}, NOW)
    assert (out["c"].variation, out["c"].reason) == ("off", FlagReason.PREREQUISITE_FAILED)


def test_prerequisite_cycle_in_an_unvalidated_snapshot_is_an_error_not_a_hang() -> None:
    a = bool_flag("a", prerequisites=[Prerequisite("b", "on")])
    b = bool_flag("b", prerequisites=[Prerequisite("a", "on")])
    c = bool_flag("c", default_variation="on", prerequisites=[Prerequisite("a", "on")])
    ev = FlagEvaluator(_unvalidated(flags=[a, b, c]))
    e = ev.evaluate("a", "u1", {}, NOW, default=True)
    assert (e.value, e.reason, e.error_code) == (True, FlagReason.ERROR, ErrorCode.GENERAL)
    assert "prerequisite cycle: a → b → a" in e.detail
    assert ev.evaluate("c", "u1", {}, NOW, default=True).error_code is ErrorCode.GENERAL
    assert set(ev.evaluate_all("u1", {}, NOW)) == {"a", "b", "c"}


def test_split_uses_the_portable_bucket_over_split_weights() -> None:
    flag = Flag(key="color", type="string", variations={"red": "#f00", "blue": "#00f"},
                default_variation="red", off_variation="red",
                rules=[FlagRule(split=[SplitShare("red", 0.3), SplitShare("blue", 0.7)])])
    ev = evaluator(flag)
    counts = {"red": 0, "blue": 0}
    for i in range(2000):
        unit = f"user-{i}"
        e = ev.evaluate("color", unit, {}, NOW, default="")
        expected = "red" if bucket("flag:color", unit) < 3000 else "blue"
        assert (e.variation, e.reason, e.rule) == (expected, FlagReason.SPLIT, 0)
        counts[e.variation] += 1  # type: ignore[index]
    assert 500 < counts["red"] < 700


def test_split_without_unit_id_is_targeting_key_missing_and_serves_default() -> None:
    flag = bool_flag(rules=[FlagRule(split=[SplitShare("on", 0.5), SplitShare("off", 0.5)])])
    for unit in (None, "", "   "):
        e = evaluator(flag).evaluate("f", unit, {}, NOW, default=True)
        assert (e.value, e.error_code, e.reason) == (True, ErrorCode.TARGETING_KEY_MISSING, FlagReason.ERROR)


def experiment_bundle(*, payloads: tuple[Any, Any] = ("v-control", "v-treat"), traffic: float = 1.0,
                      targeting: Any = None) -> ConfigBundle:
    exp = Experiment(key="exp", status="running", traffic_fraction=traffic, targeting=targeting,
                     variants=[Variant(key="control", weight=0.5, is_control=True, payload=payloads[0]),
                               Variant(key="treat", weight=0.5, payload=payloads[1])])
    flag = Flag(key="copy", type="string", variations={"a": "A", "b": "B"}, default_variation="a",
                off_variation="a", rules=[FlagRule(experiment="exp")])
    return ConfigBundle(experiments=[exp], flags=[flag])


def test_experiment_delegation_serves_the_variant_payload_and_the_decision() -> None:
    bundle = experiment_bundle()
    assigner = Assigner(bundle)
    ev = FlagEvaluator(bundle, assigner)
    for i in range(50):
        unit = f"u{i}"
        e = ev.evaluate("copy", unit, {}, NOW, default="")
        decision = assigner.decide("exp", unit, now=NOW)
        assert e.decision == decision and e.reason is FlagReason.SPLIT
        assert e.value == decision.payload and e.variation == decision.variant


def test_unit_outside_experiment_traffic_falls_through_to_default() -> None:
    bundle = experiment_bundle(traffic=0.2)
    ev = FlagEvaluator(bundle)
    reasons = {ev.evaluate("copy", f"u{i}", {}, NOW, default="").reason for i in range(200)}
    assert reasons == {FlagReason.SPLIT, FlagReason.DEFAULT}


def test_experiment_payload_of_the_wrong_type_is_type_mismatch() -> None:
    bundle = _unvalidated(experiments=experiment_bundle(payloads=(1, 2)).experiments,
                          flags=experiment_bundle().flags)
    e = FlagEvaluator(bundle).evaluate("copy", "u1", {}, NOW, default="x")
    assert (e.value, e.error_code) == ("x", ErrorCode.TYPE_MISMATCH)


def test_experiment_variant_without_payload_serves_the_flag_variation_of_that_name() -> None:
    exp = Experiment(key="exp", status="running",
                     variants=[Variant(key="on", weight=0.5, is_control=True), Variant(key="off", weight=0.5)])
    flag = bool_flag(rules=[FlagRule(experiment="exp")])
    ev = evaluator(flag, experiments=[exp])
    for i in range(20):
        e = ev.evaluate("f", f"u{i}", {}, NOW, default=False)
        assert e.value is (e.variation == "on")


@pytest.mark.parametrize(("default", "expected_type", "code"), [
    ("yes", None, ErrorCode.TYPE_MISMATCH),          # string default, bool flag
    (1, None, ErrorCode.TYPE_MISMATCH),              # number default, bool flag
    ({"a": 1}, None, ErrorCode.TYPE_MISMATCH),
    (False, "string", ErrorCode.TYPE_MISMATCH),
    (False, "bool", None),
    (None, None, None),                              # no default: no check
])
def test_type_mismatch_serves_the_callers_default(default: Any, expected_type: Any, code: ErrorCode | None) -> None:
    e = evaluator(bool_flag(default_variation="on")).evaluate(
        "f", "u1", {}, NOW, default=default, expected_type=expected_type)
    assert e.error_code == code
    assert e.value == (default if code else True)


def exploding_compiler(condition: Any) -> Predicate:
    def explode(attrs: Mapping[str, Any]) -> tuple[bool, str]:
        raise RuntimeError("predicate exploded")
    return explode


def test_errors_carry_the_default_and_a_detail() -> None:
    ev = FlagEvaluator(_unvalidated(flags=[bool_flag(rules=[FlagRule(condition={"attr": "x", "op": "bogus", "value": 1}, variation="on")])]))
    boom = FlagEvaluator(ConfigBundle(flags=[bool_flag("g", rules=[FlagRule(condition={"attr": "x", "op": "eq", "value": 1}, variation="on")])]),
                         compile_condition=exploding_compiler)
    cases = [
        (ev.evaluate("nope", "u1", {}, NOW, default=True), ErrorCode.FLAG_NOT_FOUND, "no flag 'nope'"),
        (ev.evaluate("f", "u1", {}, NOW, default=True), ErrorCode.PARSE_ERROR, "rule 0 condition does not compile"),
        (boom.evaluate("g", "u1", {}, NOW, default=True), ErrorCode.GENERAL, "rule 0 condition failed: RuntimeError: predicate exploded"),
        (ev.evaluate("f", "u1", ["not", "a", "mapping"], NOW, default=True), ErrorCode.INVALID_CONTEXT, "attributes must be a mapping"),  # type: ignore[arg-type]
        (ev.evaluate("f", "u1", {}, datetime(2026, 1, 1), default=True), ErrorCode.INVALID_CONTEXT, "timezone-aware"),
        (ev.evaluate(42, "u1", {}, NOW, default=True), ErrorCode.FLAG_NOT_FOUND, "must be a string"),  # type: ignore[arg-type]
    ]
    for e, code, detail in cases:
        assert (e.value, e.reason, e.error_code) == (True, FlagReason.ERROR, code)
        assert detail in e.detail


def test_segment_references_use_the_bundles_segments() -> None:
    flag = bool_flag(rules=[FlagRule(condition={"segment": "beta"}, variation="on")])
    seg = Segment(key="beta", condition={"attr": "plan", "op": "eq", "value": "pro"})
    ev = FlagEvaluator(ConfigBundle.from_data({"flags": [msgspec.to_builtins(flag)],
                                               "segments": [msgspec.to_builtins(seg)]}))
    assert ev.evaluate("f", "u1", {"plan": "pro"}, NOW).value is True
    assert ev.evaluate("f", "u1", {"plan": "free"}, NOW).value is False


def rollout(fraction_steps: list[tuple[float, float | None]], **kw: Any) -> Rollout:
    base: dict[str, Any] = {"key": "r", "flag_key": "f", "variation": "on", "status": "active",
                            "started_at": NOW - timedelta(hours=1),
                            "steps": [RolloutStep(traffic_fraction=f, hold_s=h) for f, h in fraction_steps]}
    base.update(kw)
    return Rollout(**base)


def test_active_rollout_serves_its_variation_to_included_units() -> None:
    r = rollout([(0.05, 1800), (0.25, 7200), (1.0, None)])  # one hour in: step 1, 25 %
    ev = evaluator(bool_flag(), rollouts=[r])
    served = 0
    for i in range(2000):
        unit = f"u{i}"
        e = ev.evaluate("f", unit, {}, NOW, default=False)
        included = bucket("rollout:r", unit) < 2500
        assert e.value is included
        assert e.reason is (FlagReason.SPLIT if included else FlagReason.DEFAULT)
        assert (e.rollout == "r") is included
        served += included
    assert 400 < served < 600


@pytest.mark.parametrize(("status", "expected_share"), [
    ("draft", 0.0), ("rolled_back", 0.0), ("completed", 1.0), ("paused", 0.25), ("active", 0.25)])
def test_rollout_status_decides_the_share(status: str, expected_share: float) -> None:
    extra: dict[str, Any] = {"status": status}
    if status == "paused":
        extra["paused_at"] = NOW - timedelta(minutes=5)
    if status == "draft":
        extra["started_at"] = None
    r = rollout([(0.05, 1800), (0.25, 7200), (1.0, None)], **extra)
    ev = evaluator(bool_flag(), rollouts=[r])
    units = [f"u{i}" for i in range(400)]
    got = sum(ev.evaluate("f", u, {}, NOW, default=False).value for u in units)
    want = sum(bucket("rollout:r", u) < expected_share * 10000 for u in units)
    assert got == want


def test_rules_take_precedence_over_rollouts_and_kill_over_everything() -> None:
    r = rollout([(1.0, None)])
    flag = bool_flag(rules=[FlagRule(condition={"attr": "country", "op": "eq", "value": "DE"}, variation="off")])
    ev = evaluator(flag, rollouts=[r])
    assert ev.evaluate("f", "u1", {"country": "DE"}, NOW).reason is FlagReason.TARGETING_MATCH
    assert ev.evaluate("f", "u1", {"country": "FR"}, NOW).value is True
    killed = evaluator(bool_flag(killed=True), rollouts=[r])
    assert killed.evaluate("f", "u1", {}, NOW).reason is FlagReason.DISABLED


def test_evaluate_all_answers_every_flag_and_context_errors_apply_to_all() -> None:
    ev = evaluator(bool_flag("a", default_variation="on"), bool_flag("b"))
    out = ev.evaluate_all("u1", {}, NOW)
    assert {k: v.value for k, v in out.items()} == {"a": True, "b": False}
    bad = ev.evaluate_all("u1", "nope", NOW)  # type: ignore[arg-type]
    assert {v.error_code for v in bad.values()} == {ErrorCode.INVALID_CONTEXT}
    assert list(bad) == ["a", "b"]


def test_evaluation_reports_the_config_version() -> None:
    ev = FlagEvaluator(ConfigBundle(flags=[bool_flag()], version=7))
    assert ev.evaluate("f", "u", {}, NOW).config_version == 7
    assert ev.evaluate("zzz", "u", {}, NOW).config_version == 7
