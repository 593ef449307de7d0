"""Static audience-overlap analysis (sound) and measured overlap on sample rows."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abwb.config import Segment
from abwb.targeting import analyse_overlap, compile_condition, estimate_overlap


def c(attr: str, op: str, value: Any = None, **kw: Any) -> dict[str, Any]:
    clause = {"attr": attr, "op": op, **kw}
    if op not in ("exists", "not_exists"):
        clause["value"] = value
    return clause


STAFF = Segment(key="staff", condition=c("email", "ends_with", "@abwb.example"))
US = Segment(key="us", condition=c("country", "in", ["US"]))


@pytest.mark.parametrize(("a", "b"), [
    (c("country", "in", ["US"]), c("country", "in", ["DE"])),
    (c("country", "eq", "US"), c("country", "ne", "US")),
    (c("country", "eq", "US"), c("country", "not_in", ["US", "CA"])),
    (c("age", "gte", 30), c("age", "lt", 18)),
    (c("age", "gt", 30), c("age", "lte", 30)),
    (c("age", "gte", 30), {"not": c("age", "gte", 18)}),
    (c("v", "semver_gte", "4.2.0"), c("v", "semver_lt", "4.2")),
    (c("v", "semver_eq", "4.2.0"), c("v", "semver_gt", "4.2.0")),
    (c("d", "before", "2026-01-01"), c("d", "after", "2026-06-01T00:00:00Z")),
    (c("country", "exists"), c("country", "not_exists")),
    (c("country", "eq", "US"), c("country", "gte", 3)),
    (c("plan", "in", ["pro", "free"]), c("plan", "starts_with", "ent")),
    (c("beta", "eq", True), c("beta", "eq", False)),
    (c("country", "ne", "US"), c("country", "not_exists")),
    ({"segment": "staff"}, {"not": {"segment": "staff"}}),
    ({"segment": "us"}, c("country", "eq", "DE")),
    ({"any": [c("c", "eq", "US"), c("c", "eq", "CA")]}, {"not": c("c", "in", ["US", "CA"])}),
    ({"all": [c("c", "eq", "US"), c("a", "gte", 18)]},
     {"any": [c("c", "eq", "DE"), c("a", "lt", 18)]}),
    ({"not": {"any": [c("x", "exists"), c("y", "exists")]}}, c("x", "gt", 1)),
])
def test_proven_disjoint(a: Any, b: Any) -> None:
    verdict = analyse_overlap(a, b, segments=[STAFF, US])
    assert not verdict.may_overlap, verdict.explanation
    assert verdict.explanation
    assert not analyse_overlap(b, a, segments=[STAFF, US]).may_overlap


@pytest.mark.parametrize(("a", "b"), [
    (c("country", "in", ["US", "CA"]), c("country", "in", ["CA", "DE"])),
    (c("age", "gte", 18), c("age", "lt", 18.5)),
    (c("country", "eq", "US"), c("plan", "eq", "pro")),
    (None, c("plan", "eq", "pro")),
    ({"not": c("country", "eq", "US")}, c("country", "not_exists")),
    (c("country", "ne", "US"), {"not": c("country", "eq", "DE")}),
    (c("country", "eq", "US", ignore_case=True), c("country", "eq", "us")),
    (c("v", "semver_gte", "4.2.0"), c("v", "semver_lte", "4.2.0")),
    (c("u", "regex", "^a"), c("u", "regex", "^b")),  # beyond the analysis: assumed overlap
])
def test_may_overlap(a: Any, b: Any) -> None:
    assert analyse_overlap(a, b).may_overlap


def test_explanations_name_the_contradiction() -> None:
    verdict = analyse_overlap(c("country", "in", ["US"]), c("country", "in", ["DE"]))
    assert verdict.explanation == (
        "no value of country satisfies country in ['US'] and country in ['DE']")
    verdict = analyse_overlap(c("country", "in", ["US"]), c("plan", "eq", "pro"))
    assert verdict.explanation == (
        "audiences can intersect: a unit may satisfy country in ['US'] and plan eq 'pro'")


def test_blowup_is_bounded_and_conservative() -> None:
    big = {"all": [{"any": [c(f"a{i}", "eq", "x"), c(f"b{i}", "eq", "y")]} for i in range(12)]}
    verdict = analyse_overlap(big, big)
    assert verdict.may_overlap and "too complex" in verdict.explanation


# ---- soundness: whenever the analysis says "disjoint", no row satisfies both ----------

ATTRS = {
    "country": ["US", "DE", "us", "FR", 3, None],
    "age": [-1, 0, 17, 18, 18.5, 30, 99, "18", True, math.nan, None],
    "app.version": ["4.1.9", "4.2", "4.2.0", "4.2.0-rc.1", "5.0.0", "banana", 4.2, None],
    "beta": [True, False, 1, "true", None],
    "signup": ["2025-12-31", "2026-01-01", "2026-03-01T10:00:00Z",
               datetime(2026, 2, 1, tzinfo=UTC), "never", 0, None],
    "plan": ["pro", "Pro", "free", "enterprise", "", None],
}
LITERALS: dict[str, list[Any]] = {
    "country": ["US", "DE", "FR", 3],
    "age": [0, 17, 18, 18.5, 30],
    "app.version": ["4.2.0", "4.2.0-rc.1", "5.0.0", "4.1.9"],
    "beta": [True, False],
    "signup": ["2026-01-01", "2026-02-01T00:00:00Z", "2026-03-01"],
    "plan": ["pro", "free", "ent", "e"],
}
OPS_BY_ATTR = {
    "country": ["eq", "ne", "in", "not_in", "exists", "not_exists", "starts_with"],
    "age": ["eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte", "exists", "not_exists"],
    "app.version": ["semver_eq", "semver_lt", "semver_lte", "semver_gt", "semver_gte", "eq",
                    "exists"],
    "beta": ["eq", "ne", "exists", "not_exists"],
    "signup": ["before", "after", "exists", "not_exists"],
    "plan": ["eq", "in", "not_in", "contains", "starts_with", "ends_with", "regex", "ne"],
}


@st.composite
def clauses(draw: st.DrawFn) -> dict[str, Any]:
    attr = draw(st.sampled_from(sorted(ATTRS)))
    op = draw(st.sampled_from(OPS_BY_ATTR[attr]))
    pool = LITERALS[attr]
    if op in ("exists", "not_exists"):
        return c(attr, op)
    if op in ("in", "not_in"):
        return c(attr, op, draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3)))
    if op in ("lt", "lte", "gt", "gte"):
        return c(attr, op, draw(st.sampled_from([v for v in pool if isinstance(v, int | float)])))
    value = draw(st.sampled_from([v for v in pool if isinstance(v, str)] if op not in (
        "eq", "ne") else pool))
    extra = {"ignore_case": True} if op in ("eq", "contains") and draw(st.booleans()) \
        and isinstance(value, str) else {}
    return c(attr, op, value, **extra)


conditions = st.recursive(
    clauses() | st.just({"segment": "us"}),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"all": xs}),
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"any": xs}),
        inner.map(lambda x: {"not": x}),
    ),
    max_leaves=6,
)
def random_rows(n: int, seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [{k: v for k in ATTRS if (v := rng.choice(ATTRS[k])) is not None} for _ in range(n)]


ROWS = random_rows(600)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=conditions, b=conditions)
def test_disjoint_verdicts_are_sound(a: Any, b: Any) -> None:
    segments = [US]
    verdict = analyse_overlap(a, b, segments=segments)
    if verdict.may_overlap:
        return
    pa = compile_condition(a, segments=segments)
    pb = compile_condition(b, segments=segments)
    for row in ROWS:
        assert not (pa(row)[0] and pb(row)[0]), (row, verdict.explanation)


def exhaustive_rows(attrs: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{}]
    for attr in attrs:
        out = [{**r, attr: v} if v is not None else r for r in out for v in ATTRS[attr]]
    return out


@settings(max_examples=300, deadline=None)
@given(a=clauses(), b=clauses())
def test_clause_pairs_are_sound_exhaustively(a: dict[str, Any], b: dict[str, Any]) -> None:
    verdict = analyse_overlap(a, b, segments=[US])
    both = compile_condition({"all": [a, b]})
    for row in exhaustive_rows(sorted({a["attr"], b["attr"]})):
        if not verdict.may_overlap:
            assert not both(row)[0], (row, verdict.explanation)


def test_analysis_is_not_vacuous() -> None:
    """The soundness property would pass trivially if nothing were ever found disjoint."""
    pairs = [(c("age", "lt", v), c("age", "gte", v)) for v in (0, 17, 18)]
    pairs += [({"not": c("plan", "eq", v)}, c("plan", "eq", v)) for v in ("pro", "free")]
    assert all(not analyse_overlap(a, b).may_overlap for a, b in pairs)


def test_estimate_overlap_on_sample_rows() -> None:
    sample = pl.DataFrame({
        "country": ["US", "US", "DE", "CA", None],
        "app": [{"version": "4.2.0"}, {"version": "4.1.0"}, {"version": "5.0.0"},
                {"version": None}, {"version": "4.3.0"}],
        "plan": ["pro", "free", "pro", "pro", "pro"],
    })
    a = {"all": [c("country", "in", ["US", "CA"]), c("app.version", "semver_gte", "4.2.0")]}
    b = c("plan", "eq", "pro")
    est = estimate_overlap(a, b, sample)
    assert (est.n, est.matched_a, est.matched_b, est.matched_both) == (5, 1, 4, 1)
    assert est.share_both == pytest.approx(0.2)
    assert est.share_of_smaller == 1.0
    empty = estimate_overlap(a, b, sample.head(0))
    assert math.isnan(empty.share_both) and math.isnan(empty.share_of_smaller)
    flat = pl.DataFrame({"app.version": ["4.2.0", "4.0.0"], "country": ["US", "US"]})
    assert estimate_overlap(a, None, flat).matched_both == 1
