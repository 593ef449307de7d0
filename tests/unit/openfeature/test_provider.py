"""The abwb OpenFeature provider, driven through the real OpenFeature client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from abwb.assignment import bucket
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
from abwb.errors import InvalidInput
from abwb.flags import FlagEvaluator, kill
from abwb.openfeature import AbwbProvider

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def bundle() -> ConfigBundle:
    onoff = {"on": True, "off": False}
    return ConfigBundle(
        experiments=[Experiment(key="exp", status="running", variants=[
            Variant(key="control", weight=0.5, is_control=True, payload={"layout": "list"}),
            Variant(key="grid", weight=0.5, payload={"layout": "grid"})])],
        flags=[
            Flag(key="static-on", type="bool", variations=onoff, default_variation="on", off_variation="off"),
            Flag(key="beta", type="bool", variations=onoff, default_variation="off", off_variation="off",
                 rules=[FlagRule(split=[SplitShare("on", 0.5), SplitShare("off", 0.5)])]),
            Flag(key="needs-beta", type="bool", variations=onoff, default_variation="on", off_variation="off",
                 prerequisites=[Prerequisite("beta", "on")]),
            Flag(key="greeting", type="string", variations={"a": "hello", "b": "hi"},
                 default_variation="a", off_variation="a"),
            Flag(key="limit", type="number", variations={"low": 10, "high": 2.5},
                 default_variation="low", off_variation="high"),
            Flag(key="layout", type="json", variations={"default": {"layout": "list"}, "text": "plain"},
                 default_variation="default", off_variation="text",
                 rules=[FlagRule(experiment="exp")]),
            Flag(key="rolled", type="bool", variations=onoff, default_variation="off", off_variation="off"),
        ],
        rollouts=[Rollout(key="ramp", flag_key="rolled", variation="on", status="active",
                          started_at=NOW - timedelta(hours=1),
                          steps=[RolloutStep(traffic_fraction=0.3)])],
        version=5,
    )


@pytest.fixture
def client() -> Iterator[Any]:
    api.set_provider(AbwbProvider(FlagEvaluator(bundle()), clock=lambda: NOW))
    yield api.get_client()
    api.clear_providers()


def ctx(unit: str | None = "user-1", **attrs: Any) -> EvaluationContext:
    return EvaluationContext(targeting_key=unit, attributes=attrs)


def test_boolean_static_and_metadata(client: Any) -> None:
    d = client.get_boolean_details("static-on", False, ctx())
    assert (d.value, d.reason, d.variant, d.error_code) == (True, Reason.STATIC, "on", None)
    assert d.flag_metadata["config_version"] == 5 and d.flag_metadata["abwb_reason"] == "STATIC"


def test_boolean_split_follows_the_portable_bucket(client: Any) -> None:
    for i in range(100):
        unit = f"user-{i}"
        d = client.get_boolean_details("beta", False, ctx(unit))
        assert d.reason == Reason.SPLIT
        assert d.value is (bucket("flag:beta", unit) < 5000)


def test_prerequisite_failure_reports_disabled(client: Any) -> None:
    units = [f"user-{i}" for i in range(40)]
    for unit in units:
        d = client.get_boolean_details("needs-beta", True, ctx(unit))
        beta = bucket("flag:beta", unit) < 5000
        assert d.value is beta
        assert d.reason == (Reason.DEFAULT if beta else Reason.DISABLED)
        if not beta:
            assert d.flag_metadata["abwb_reason"] == "PREREQUISITE_FAILED"


def test_string_integer_float(client: Any) -> None:
    assert client.get_string_value("greeting", "x", ctx()) == "hello"
    d = client.get_integer_details("limit", 0, ctx())
    assert (d.value, d.reason) == (10, Reason.STATIC)
    assert client.get_float_value("limit", 0.0, ctx()) == 10.0


def test_object_from_experiment_delegation(client: Any) -> None:
    d = client.get_object_details("layout", {}, ctx("user-7"))
    assert d.reason == Reason.SPLIT and d.value in ({"layout": "list"}, {"layout": "grid"})
    assert d.flag_metadata["experiment"] == "exp" and d.flag_metadata["in_experiment"] is True


def test_rollout_is_a_split(client: Any) -> None:
    for i in range(60):
        unit = f"user-{i}"
        d = client.get_boolean_details("rolled", False, ctx(unit))
        inside = bucket("rollout:ramp", unit) < 3000
        assert (d.value, d.reason) == (inside, Reason.SPLIT if inside else Reason.DEFAULT)
        assert d.flag_metadata.get("rollout") == ("ramp" if inside else None)


@pytest.mark.parametrize(("call", "flag", "default", "code"), [
    ("get_boolean_details", "nope", True, ErrorCode.FLAG_NOT_FOUND),
    ("get_boolean_details", "greeting", True, ErrorCode.TYPE_MISMATCH),
    ("get_string_details", "static-on", "d", ErrorCode.TYPE_MISMATCH),
    ("get_integer_details", "greeting", 3, ErrorCode.TYPE_MISMATCH),
    ("get_object_details", "limit", {"d": 1}, ErrorCode.TYPE_MISMATCH),
])
def test_errors_return_the_default_with_the_code(client: Any, call: str, flag: str, default: Any,
                                                 code: ErrorCode) -> None:
    d = getattr(client, call)(flag, default, ctx())
    assert (d.value, d.reason, d.error_code) == (default, Reason.ERROR, code)
    assert d.error_message


def test_non_integral_number_is_a_type_mismatch_for_integers() -> None:
    b = bundle()
    ev = FlagEvaluator(kill(b, "limit", actor="t"))  # off variation is 2.5
    api.set_provider(AbwbProvider(ev, clock=lambda: NOW))
    try:
        c = api.get_client()
        assert c.get_integer_details("limit", 1, ctx()).error_code == ErrorCode.TYPE_MISMATCH
        d = c.get_float_details("limit", 1.0, ctx())
        assert (d.value, d.reason) == (2.5, Reason.DISABLED)
    finally:
        api.clear_providers()


def test_missing_targeting_key_for_a_hashed_flag(client: Any) -> None:
    d = client.get_boolean_details("beta", True, ctx(None))
    assert (d.value, d.error_code) == (True, ErrorCode.TARGETING_KEY_MISSING)
    assert client.get_boolean_value("static-on", False, ctx(None)) is True  # no hash, no key needed


def test_kill_switch_through_a_snapshot_source_and_config_changed_event() -> None:
    current = {"ev": FlagEvaluator(bundle())}
    events: list[EventDetails] = []
    api.set_provider(AbwbProvider(lambda: current["ev"], clock=lambda: NOW))
    api.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, events.append)
    try:
        c = api.get_client()
        assert c.get_boolean_value("static-on", False, ctx()) is True
        current["ev"] = FlagEvaluator(kill(bundle(), "static-on", actor="oncall"))
        d = c.get_boolean_details("static-on", True, ctx())
        assert (d.value, d.reason, d.flag_metadata["config_version"]) == (False, Reason.DISABLED, 6)
        assert len(events) == 1
    finally:
        api.remove_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, events.append)
        api.clear_providers()


class FakeMonotonic:
    """Stands in for the holder module's ``time`` so a test moves its clock, never sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_holder_source_reports_the_real_reason_until_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The documented set-up: a snapshot holder and stale_after_s (issue 13)."""
    from abwb.snapshot import holder as holder_module

    clock = FakeMonotonic()
    monkeypatch.setattr(holder_module, "time", clock)
    holder = holder_module.ConfigSnapshotHolder()
    holder.offer(bundle(), source="bundle")
    api.set_provider(AbwbProvider(holder, stale_after_s=300, clock=lambda: NOW))
    try:
        c = api.get_client()
        assert c.get_boolean_details("static-on", False, ctx()).reason == Reason.STATIC
        assert c.get_boolean_details("beta", False, ctx()).reason == Reason.SPLIT
        clock.now += 300  # exactly at the limit: still fresh
        assert c.get_boolean_details("static-on", False, ctx()).reason == Reason.STATIC
        clock.now += 0.5
        d = c.get_boolean_details("static-on", False, ctx())
        assert (d.value, d.reason) == (True, Reason.STALE)  # still served
        newer = ConfigBundle(flags=bundle().flags, version=6)
        holder.offer(newer, source="bundle")  # a new snapshot is fresh again
        assert c.get_boolean_details("static-on", False, ctx()).reason == Reason.STATIC
    finally:
        api.clear_providers()


def test_evaluator_source_takes_its_age_from_the_caller() -> None:
    age = {"s": 10.0}
    api.set_provider(AbwbProvider(FlagEvaluator(bundle()), stale_after_s=300,
                                  age_s=lambda: age["s"], clock=lambda: NOW))
    try:
        c = api.get_client()
        assert c.get_boolean_details("static-on", False, ctx()).reason == Reason.STATIC
        age["s"] = 301.0
        assert c.get_boolean_details("static-on", False, ctx()).reason == Reason.STALE
    finally:
        api.clear_providers()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"stale_after_s": 300}, "stale_after_s: needs the snapshot's age"),
    ({"stale_after_s": -1, "age_s": lambda: 0.0}, "stale_after_s: must be >= 0 seconds, got -1"),
])
def test_staleness_that_cannot_be_measured_is_refused(kwargs: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        AbwbProvider(FlagEvaluator(bundle()), **kwargs)
    assert str(info.value).startswith(message)


def test_failing_snapshot_source_serves_the_default() -> None:
    def broken() -> FlagEvaluator:
        raise RuntimeError("store unreachable")
    api.set_provider(AbwbProvider(broken))
    try:
        d = api.get_client().get_boolean_details("static-on", False, ctx())
        assert (d.value, d.error_code) == (False, ErrorCode.PROVIDER_NOT_READY)
    finally:
        api.clear_providers()


def test_unit_type_attribute_selects_experiment_unit_type(client: Any) -> None:
    d = client.get_object_details("layout", {}, ctx("org-1", unit_type="org"))
    # the experiment randomises users: an org falls through to the flag default
    assert (d.value, d.reason) == ({"layout": "list"}, Reason.DEFAULT)
