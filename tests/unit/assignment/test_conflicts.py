"""Conflict detection before start: surfaces, unit type, schedule, layer, audiences."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from abwb.assignment.conflicts import check_can_start, find_conflicts, surface_rivals
from abwb.config import (
    ConfigBundle,
    Experiment,
    Flag,
    Layer,
    LayerPlacement,
    Schedule,
    Segment,
    Variant,
)
from abwb.demo.scenario import demo_bundle
from abwb.errors import Conflict

VARIANTS = [Variant(key="c", weight=0.5, is_control=True), Variant(key="t", weight=0.5)]
FLAG = Flag(key="new-checkout", type="bool", variations={"on": True, "off": False},
            default_variation="off", off_variation="off")
STAFF = Segment(key="staff", condition={"attr": "staff", "op": "eq", "value": True})


def exp(key: str, **kw: Any) -> Experiment:
    base: dict[str, Any] = {"key": key, "variants": VARIANTS, "status": "running",
                            "surfaces": ["checkout"]}
    base.update(kw)
    return Experiment(**base)


def conflicts(candidate: Experiment, *others: Experiment) -> list[str]:
    b = ConfigBundle(experiments=[*others, candidate], layers=[Layer(key="l"), Layer(key="m")],
                     flags=[FLAG], segments=[STAFF])
    return [r.other for r in find_conflicts(candidate, b)]


def test_shared_surface_same_audience_conflicts_with_explanation() -> None:
    other = exp("other", targeting={"attr": "country", "op": "in", "value": ["US", "CA"]})
    candidate = exp("new", status="draft",
                    targeting={"attr": "country", "op": "in", "value": ["CA", "DE"]})
    b = ConfigBundle(experiments=[other, candidate])
    [report] = find_conflicts(candidate, b)
    assert report.shared == ("surface 'checkout'",)
    assert report.message == (
        "'new' conflicts with 'other' (running) on surface 'checkout': "
        "both randomise 'user' units; neither has an end date; neither is in a layer; "
        "audiences can intersect: a unit may satisfy country in ['CA', 'DE'] and "
        "country in ['US', 'CA']")


@pytest.mark.parametrize(("candidate", "other", "conflict"), [
    (exp("a", flag_key="new-checkout", surfaces=[]), exp("b", flag_key="new-checkout", surfaces=[]), True),
    (exp("a", surfaces=["cart"]), exp("b", surfaces=["checkout"]), False),
    (exp("a"), exp("b", status="scheduled"), True),
    (exp("a"), exp("b", status="paused"), False),
    (exp("a"), exp("b", status="stopped"), False),
    (exp("a"), exp("b", unit_type="device"), False),
    (exp("a", layer=LayerPlacement("l", [(0, 5000)])), exp("b", layer=LayerPlacement("l", [(5000, 10000)])), False),
    (exp("a", layer=LayerPlacement("l", [(0, 5001)])), exp("b", layer=LayerPlacement("l", [(5000, 10000)])), True),
    (exp("a", layer=LayerPlacement("l", [(0, 5000)])), exp("b", layer=LayerPlacement("m", [(5000, 10000)])), True),
    (exp("a", layer=LayerPlacement("l", [(0, 5000)])), exp("b"), True),
    (exp("a", targeting={"attr": "country", "op": "eq", "value": "US"}),
     exp("b", targeting={"attr": "country", "op": "eq", "value": "DE"}), False),
    (exp("a", targeting={"attr": "age", "op": "gte", "value": 30}),
     exp("b", targeting={"attr": "age", "op": "lt", "value": 18}), False),
    (exp("a", targeting={"segment": "staff"}), exp("b", targeting={"not": {"segment": "staff"}}), False),
    (exp("a", targeting={"attr": "app.version", "op": "semver_gte", "value": "5.0.0"}),
     exp("b", targeting={"attr": "app.version", "op": "semver_lt", "value": "5.0.0"}), False),
    (exp("a", schedule=Schedule(start_at=datetime(2026, 2, 1, tzinfo=UTC))),
     exp("b", schedule=Schedule(end_at=datetime(2026, 2, 1, tzinfo=UTC))), False),
    (exp("a", schedule=Schedule(start_at=datetime(2026, 1, 31, tzinfo=UTC))),
     exp("b", schedule=Schedule(end_at=datetime(2026, 2, 1, tzinfo=UTC))), True),
])
def test_conflict_rules(candidate: Experiment, other: Experiment, conflict: bool) -> None:
    assert conflicts(candidate, other) == (["b"] if conflict else [])


def test_candidate_itself_is_skipped() -> None:
    a = exp("a")
    assert conflicts(a, exp("a", status="running")) == []


def test_check_can_start_raises_with_reasons() -> None:
    a, b = exp("a", status="draft"), exp("b")
    with pytest.raises(Conflict) as info:
        check_can_start(a, ConfigBundle(experiments=[b, a]))
    assert "experiment 'a' cannot start" in str(info.value) and "'b'" in str(info.value)
    assert len(info.value.reasons) == 1 and info.value.reasons[0].startswith("'a' conflicts with 'b'")
    check_can_start(exp("c", surfaces=["elsewhere"]), ConfigBundle(experiments=[b]))


def test_demo_experiments_do_not_conflict() -> None:
    bundle = demo_bundle()
    for e in bundle.experiments:
        check_can_start(e, bundle)
    rival = exp("rival", status="draft", flag_key="new-checkout", surfaces=[],
                targeting={"attr": "country", "op": "eq", "value": "US"})
    with pytest.raises(Conflict, match="checkout-redesign"):
        check_can_start(rival, bundle)
    separate = exp("rival", status="draft", flag_key="new-checkout", surfaces=[],
                   targeting={"attr": "country", "op": "eq", "value": "FR"})
    check_can_start(separate, bundle)


def test_surface_rivals_follow_precedence() -> None:
    t1, t2 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    late = exp("late", schedule=Schedule(start_at=t2))
    early = exp("early", schedule=Schedule(start_at=t1))
    always = exp("always")
    other = exp("other", surfaces=["cart"])
    rivals = surface_rivals([late, early, always, other])
    assert [r.key for r in rivals["late"]] == ["always", "early"]
    assert [r.key for r in rivals["early"]] == ["always"]
    assert "always" not in rivals and "other" not in rivals
