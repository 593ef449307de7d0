"""Property-based tests of the assignment invariants services and analysts rely on."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from abwb.assignment import Assigner, Reason, allocation_of, bucket, reweight
from abwb.assignment.allocation import bucket_counts
from abwb.assignment.hashing import traffic_salt, variant_salt
from abwb.config import BUCKETS, ConfigBundle, Experiment, Holdout, Variant

NOW = datetime(2026, 1, 1, tzinfo=UTC)
UNITS = [f"u{i}" for i in range(400)]


def make(weights: list[float], *, traffic: float = 1.0, sticky: bool = False) -> Experiment:
    total = sum(weights)
    normalised = [w / total for w in weights]
    normalised[-1] = 1.0 - sum(normalised[:-1])
    return Experiment(
        key="prop",
        status="running",
        traffic_fraction=traffic,
        sticky=sticky,
        variants=[
            Variant(key=f"v{i}", weight=max(0.0, w), is_control=i == 0)
            for i, w in enumerate(normalised)
        ],
    )


weights_st = st.lists(st.floats(0.05, 1.0), min_size=2, max_size=5)


@settings(max_examples=40, deadline=None)
@given(weights=weights_st, low=st.floats(0, 1), high=st.floats(0, 1))
def test_raising_traffic_only_adds_units_and_never_changes_a_variant(
    weights: list[float], low: float, high: float
) -> None:
    low, high = sorted((low, high))
    before = Assigner(ConfigBundle(experiments=[make(weights, traffic=low)]))
    after = Assigner(ConfigBundle(experiments=[make(weights, traffic=high)]))
    for unit in UNITS:
        a = before.decide("prop", unit, now=NOW)
        b = after.decide("prop", unit, now=NOW)
        if a.variant is not None:
            assert b.variant == a.variant


@settings(max_examples=40, deadline=None)
@given(old=weights_st, new_raw=st.lists(st.floats(0.0, 1.0), min_size=5, max_size=5))
def test_reweight_moves_exactly_the_minimal_mass_it_reports(
    old: list[float], new_raw: list[float]
) -> None:
    exp = make(old)
    raw = new_raw[: len(exp.variants)]
    if sum(raw) == 0:
        raw = [1.0] * len(raw)
    new = {v.key: w / sum(raw) for v, w in zip(exp.variants, raw, strict=True)}
    new[exp.variants[-1].key] = 1.0 - sum(list(new.values())[:-1])
    new = {k: max(0.0, w) for k, w in new.items()}
    result = reweight(exp, new)
    before, after = allocation_of(exp), allocation_of(result.experiment)
    changed = sum(before.variant_at(b) != after.variant_at(b) for b in range(BUCKETS))
    old_counts = bucket_counts([v.weight for v in exp.variants])
    new_counts = bucket_counts([new[v.key] for v in exp.variants])
    minimal = sum(max(0, o - n) for o, n in zip(old_counts, new_counts, strict=True))
    assert changed == minimal == round(result.moved_fraction * BUCKETS)
    # The new allocation realises the new weights exactly (to the bucket).
    sizes = {k: sum(e - s for s, e in rs) for k, rs in after.ranges().items()}
    for v, n in zip(exp.variants, new_counts, strict=True):
        assert sizes.get(v.key, 0) == n


@settings(max_examples=25, deadline=None)
@given(old=weights_st, new_raw=weights_st)
def test_sticky_units_keep_their_variant_when_weights_change(
    old: list[float], new_raw: list[float]
) -> None:
    exp = make(old, sticky=True)
    first = Assigner(ConfigBundle(experiments=[exp]))
    stored = {u: first.assign(u, now=NOW).sticky_writes for u in UNITS}
    keys = [v.key for v in exp.variants]
    raw = (new_raw * 5)[: len(keys)]
    new = {k: w / sum(raw) for k, w in zip(keys, raw, strict=True)}
    new[keys[-1]] = 1.0 - sum(list(new.values())[:-1])
    changed = reweight(exp, {k: max(0.0, w) for k, w in new.items()}).experiment
    second = Assigner(ConfigBundle(experiments=[changed]))
    for unit in UNITS:
        d = second.decide("prop", unit, now=NOW, sticky=stored[unit])
        assert d.variant == first.decide("prop", unit, now=NOW).variant
        assert d.reason is Reason.STICKY


def test_new_phase_re_randomises_on_purpose() -> None:
    exp = make([0.5, 0.5])
    next_phase = msgspec.structs.replace(exp, phase=2)
    a = Assigner(ConfigBundle(experiments=[exp]))
    b = Assigner(ConfigBundle(experiments=[next_phase]))
    same = sum(
        a.decide("prop", u, now=NOW).variant == b.decide("prop", u, now=NOW).variant for u in UNITS
    )
    # Independent re-randomisation keeps about half the units on the same arm.
    assert 0.38 * len(UNITS) < same < 0.62 * len(UNITS)
    # Sticky assignments are keyed by phase, so a new phase ignores old ones.
    sticky = make([0.5, 0.5], sticky=True)
    old_writes = Assigner(ConfigBundle(experiments=[sticky])).assign("u1", now=NOW).sticky_writes
    d = Assigner(ConfigBundle(experiments=[msgspec.structs.replace(sticky, phase=2)])).decide(
        "prop", "u1", now=NOW, sticky=old_writes
    )
    assert d.reason is Reason.ASSIGNED


@settings(max_examples=60, deadline=None)
@given(weights=weights_st, traffic=st.floats(0, 1), holdout=st.floats(0, 1),
       unit=st.text(min_size=1, max_size=20).filter(str.strip))
def test_decisions_follow_the_documented_formula(
    weights: list[float], traffic: float, holdout: float, unit: str
) -> None:
    # The engine compares integer buckets with precomputed integer cuts; the documented
    # rule compares the bucket with fraction x 10000 (any real, e.g. 3333.3).
    unit = "".join(c for c in unit if not 0xD800 <= ord(c) <= 0xDFFF) or "u"
    exp = msgspec.structs.replace(make(weights, traffic=traffic), holdout="h")
    bundle = ConfigBundle(experiments=[exp], holdouts=[Holdout(key="h",
                                                               traffic_fraction=holdout)])
    got = Assigner(bundle).decide("prop", unit, now=NOW)
    if bucket(bundle.holdouts[0].effective_salt, unit) < holdout * BUCKETS:
        assert got.reason is Reason.HOLDOUT
    elif bucket(traffic_salt(exp.effective_salt, 1), unit) >= traffic * BUCKETS:
        assert got.reason is Reason.NOT_IN_TRAFFIC
    else:
        variant_bucket = bucket(variant_salt(exp.effective_salt, 1), unit)
        assert got.variant == allocation_of(exp).variant_at(variant_bucket)
        assert got.reason is Reason.ASSIGNED
