"""The engine with targeting: only matching units are assigned, misses are explained."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from abwb.assignment import Assigner, Reason
from abwb.bulk import assign_frame
from abwb.config import ConfigBundle, Experiment, Segment, Variant
from abwb.demo.scenario import demo_bundle, sample_users
from abwb.errors import InvalidInput

NOW = datetime(2026, 1, 1, tzinfo=UTC)
VARIANTS = [Variant(key="control", weight=0.5, is_control=True), Variant(key="t", weight=0.5)]
RULE = {"all": [
    {"attr": "country", "op": "in", "value": ["US", "CA"]},
    {"attr": "app.version", "op": "semver_gte", "value": "4.2.0"},
    {"not": {"segment": "internal-staff"}},
]}
STAFF = Segment(key="internal-staff",
                condition={"attr": "email", "op": "ends_with", "value": "@abwb.example"})


def assigner(**kw: object) -> Assigner:
    exp = Experiment(key="e", status="running", variants=VARIANTS, targeting=RULE,
                     **kw)  # type: ignore[arg-type]
    return Assigner(ConfigBundle(experiments=[exp], segments=[STAFF]))


def test_only_matching_units_are_assigned_and_misses_explained() -> None:
    a = assigner()
    ok = {"country": "US", "app": {"version": "4.10.0"}, "email": "x@gmail.com"}
    assert a.decide("e", "u1", now=NOW, attributes=ok).reason is Reason.ASSIGNED
    cases = {
        "country in ['US', 'CA'] failed: got 'DE'": {**ok, "country": "DE"},
        "app.version semver_gte '4.2.0' failed: got '4.1.9'": {**ok, "app": {"version": "4.1.9"}},
        "app.version semver_gte '4.2.0' failed: attribute missing": {"country": "CA"},
        "not (segment 'internal-staff') failed: it matched": {**ok, "email": "me@abwb.example"},
    }
    for detail, attrs in cases.items():
        d = a.decide("e", "u1", now=NOW, attributes=attrs)
        assert (d.reason, d.variant, d.detail) == (Reason.TARGETING_MISS, None, detail)


def test_targeting_share_over_many_units() -> None:
    a = assigner()
    hits = 0
    for i in range(2000):
        country = ("US", "DE")[i % 2]
        d = a.decide("e", f"user-{i}", now=NOW,
                     attributes={"country": country, "app.version": "5.0.0"})
        assert d.in_experiment == (country == "US")
        hits += d.in_experiment
    assert hits == 1000


def test_override_beats_targeting() -> None:
    a = assigner(overrides={"qa": "t"})
    assert a.decide("e", "qa", now=NOW, attributes={}).reason is Reason.OVERRIDE


def test_bad_targeting_is_refused_when_compiling() -> None:
    exp = Experiment(key="e", status="running", variants=VARIANTS,
                     targeting={"segment": "ghost"})
    with pytest.raises(InvalidInput, match=r"targeting\.segment: unknown segment 'ghost'"):
        Assigner(ConfigBundle(experiments=[exp]))


def test_bulk_path_uses_the_same_targeting() -> None:
    import polars as pl

    a = assigner()
    frame = pl.DataFrame({"unit_id": ["a", "b", "c"], "country": ["US", "DE", "CA"],
                          "app.version": ["4.2.0", "5.0.0", "4.0.0"]})
    out = assign_frame(a, frame, "e", now=NOW)
    assert out["reason"].to_list()[1:] == ["targeting_miss", "targeting_miss"]
    assert out["reason"][0] in ("assigned", "not_in_traffic")


def test_demo_experiments_are_targeted() -> None:
    bundle = demo_bundle()
    a = Assigner(bundle)
    checkout = bundle.experiment("checkout-redesign")
    assert checkout is not None and checkout.targeting is not None
    reasons = {a.decide("checkout-redesign", u, now=NOW, attributes=attrs).reason
               for u, attrs in sample_users(300)}
    assert Reason.TARGETING_MISS in reasons and Reason.ASSIGNED in reasons
    staff = a.decide("checkout-redesign", "user-1", now=NOW, attributes={
        "country": "US", "app": {"version": "5.0.0"}, "staff": True})
    assert staff.reason is Reason.TARGETING_MISS and "internal-staff" in staff.detail
