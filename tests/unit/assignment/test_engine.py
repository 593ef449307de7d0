"""The decision engine: evaluation order, every reason, input checking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from abwb.assignment import Assigner, Reason
from abwb.assignment.hashing import bucket, traffic_salt
from abwb.config import (
    ConfigBundle,
    Experiment,
    Flag,
    Holdout,
    Layer,
    LayerPlacement,
    Schedule,
    Variant,
)
from abwb.errors import InvalidInput

NOW = datetime(2026, 1, 1, tzinfo=UTC)
VARIANTS = [
    Variant(key="control", weight=0.5, is_control=True, payload={"color": "grey"}),
    Variant(key="green", weight=0.5, payload={"color": "green"}),
]


def exp(**kw: object) -> Experiment:
    base: dict[str, object] = {"key": "e", "status": "running", "variants": VARIANTS}
    base.update(kw)
    return Experiment(**base)  # type: ignore[arg-type]


def decide(e: Experiment, unit: str = "u1", **kw: object) -> Reason:
    bundle = ConfigBundle(
        experiments=[e],
        holdouts=[
            Holdout(key="h", traffic_fraction=1.0),
            Holdout(key="none", traffic_fraction=0.0),
        ],
        layers=[Layer(key="l")],
        flags=[
            Flag(
                key="f",
                type="bool",
                variations={"on": True, "off": False},
                default_variation="off",
                off_variation="off",
                killed=True,
            )
        ],
    )
    return Assigner(bundle).decide("e", unit, now=kw.pop("now", NOW), **kw).reason  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("draft", Reason.NOT_RUNNING),
        ("paused", Reason.PAUSED),
        ("stopped", Reason.NOT_RUNNING),
        ("scheduled", Reason.NOT_RUNNING),
        ("archived", Reason.NOT_RUNNING),
    ],
)
def test_status_gates_everything(status: str, reason: Reason) -> None:
    assert decide(exp(status=status, overrides={"u1": "green"})) is reason


def test_override_beats_holdout_targeting_and_traffic() -> None:
    e = exp(overrides={"u1": "green"}, holdout="h", traffic_fraction=0.0)
    assert decide(e) is Reason.OVERRIDE


def test_holdout_then_layer_then_traffic() -> None:
    assert decide(exp(holdout="h")) is Reason.HOLDOUT
    assert decide(exp(holdout="none")) is Reason.ASSIGNED
    lb = bucket("layer:l", "u1")
    other = (lb + 1, lb + 2) if lb < 9_998 else (0, 1)
    outside = LayerPlacement(layer="l", ranges=[other])
    assert decide(exp(layer=outside)) is Reason.LAYER_EXCLUDED
    assert decide(exp(layer=LayerPlacement(layer="l", ranges=[(lb, lb + 1)]))) is Reason.ASSIGNED
    tb = bucket(traffic_salt("e", 1), "u1")
    assert decide(exp(traffic_fraction=tb / 10_000)) is Reason.NOT_IN_TRAFFIC
    assert decide(exp(traffic_fraction=(tb + 1) / 10_000)) is Reason.ASSIGNED


def test_kill_switch_schedule_and_unit_type() -> None:
    assert decide(exp(flag_key="f")) is Reason.KILLED
    window = Schedule(start_at=NOW + timedelta(days=1), end_at=NOW + timedelta(days=2))
    assert decide(exp(schedule=window)) is Reason.OUTSIDE_SCHEDULE
    assert decide(exp(schedule=window), now=NOW + timedelta(days=1)) is Reason.ASSIGNED
    assert decide(exp(schedule=window), now=NOW + timedelta(days=2)) is Reason.OUTSIDE_SCHEDULE
    assert decide(exp(), unit_type="device") is Reason.UNIT_TYPE_MISMATCH


def test_decision_carries_payload_and_is_deterministic() -> None:
    a = Assigner(ConfigBundle(experiments=[exp()]))
    first = a.decide("e", "user-7", now=NOW)
    assert first.variant in {"control", "green"}
    assert first.payload == {"color": first.variant if first.variant == "green" else "grey"}
    assert all(a.decide("e", "user-7", now=NOW) == first for _ in range(5))
    assert first.in_experiment


def test_targeting_without_compiler_or_with_one() -> None:
    targeted = exp(targeting={"attr": "country", "op": "eq", "value": "US"})

    def compiler(condition: object):  # a stand-in predicate compiler for this test
        return lambda attrs: (attrs.get("country") == "US", "country is not US")

    a = Assigner(ConfigBundle(experiments=[targeted]), compile_condition=compiler)
    assert a.decide("e", "u1", now=NOW, attributes={"country": "US"}).reason is Reason.ASSIGNED
    miss = a.decide("e", "u1", now=NOW, attributes={"country": "DE"})
    assert (miss.reason, miss.detail, miss.variant) == (
        Reason.TARGETING_MISS,
        "country is not US",
        None,
    )


@pytest.mark.parametrize(
    ("unit_id", "message"),
    [
        (None, "must be a string"),
        (42, "must be a string"),
        ("", "non-empty"),
        ("   ", "non-empty"),
        ("x" * 257, "at most 256 bytes"),
        ("\ud800", "lone surrogate"),
    ],
)
def test_bad_unit_ids_are_clear_errors(unit_id: object, message: str) -> None:
    a = Assigner(ConfigBundle(experiments=[exp()]))
    with pytest.raises(InvalidInput, match=message) as info:
        a.assign(unit_id, now=NOW)  # type: ignore[arg-type]
    assert info.value.problems[0].path == "unit_id"


def test_naive_now_and_unknown_experiment_are_rejected() -> None:
    a = Assigner(ConfigBundle(experiments=[exp()]))
    with pytest.raises(InvalidInput, match="timezone-aware"):
        a.assign("u1", now=datetime(2026, 1, 1))
    with pytest.raises(InvalidInput, match="unknown experiment 'nope'"):
        a.assign("u1", now=NOW, experiments=["nope"])


def test_sticky_writes_only_for_sticky_experiments() -> None:
    a = Assigner(ConfigBundle(experiments=[exp(), exp(key="s", sticky=True)]))
    result = a.assign("u1", now=NOW)
    assert list(result.sticky_writes) == ["s/p1"]
    stale = a.decide("s", "u1", now=NOW, sticky={"s/p1": "removed-variant"})
    assert stale.reason is Reason.ASSIGNED  # a stored variant that no longer exists is ignored


def test_reweighted_experiment_round_trips_through_json() -> None:
    from abwb.assignment import reweight

    moved = reweight(exp(), {"control": 0.2, "green": 0.8}).experiment
    again = msgspec.json.decode(msgspec.json.encode(moved), type=Experiment)
    assert again == moved
