"""Every operator, table-driven: matches, type mismatches, missing/null, unicode, huge values."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from abwb.targeting import compile_condition

MISSING = object()
HUGE = 10**400


def check(op: str, value: Any, attr: Any, *, ignore_case: bool | None = None,
          path: str = "x") -> bool:
    clause: dict[str, Any] = {"attr": path, "op": op}
    if op not in ("exists", "not_exists"):
        clause["value"] = value
    if ignore_case is not None:
        clause["ignore_case"] = ignore_case
    attrs = {} if attr is MISSING else {path: attr}
    matched, why = compile_condition(clause)(attrs)
    assert (why == "") == matched
    return matched


CASES: list[tuple[str, Any, Any, bool]] = [
    # eq / ne: typed equality, fail closed on type mismatch, missing and null
    ("eq", "US", "US", True),
    ("eq", "US", "us", False),
    ("eq", "US", "DE", False),
    ("eq", "US", MISSING, False),
    ("eq", "US", None, False),
    ("eq", 10, "10", False),
    ("eq", "10", 10, False),
    ("eq", 1, True, False),
    ("eq", True, 1, False),
    ("eq", True, True, True),
    ("eq", 1, 1.0, True),
    ("eq", 0.5, 0.5, True),
    ("eq", "ü", "ü", True),
    ("eq", "日本", "日本", True),
    ("eq", 1, math.nan, False),
    ("eq", 1, [1], False),
    ("eq", HUGE, HUGE, True),
    ("eq", 1e308, HUGE, False),
    ("ne", "US", "DE", True),
    ("ne", "US", "US", False),
    ("ne", "US", MISSING, False),
    ("ne", "US", None, False),
    ("ne", "US", 5, False),
    ("ne", 9, "10", False),
    ("ne", 9, 10, True),
    ("ne", 9, math.nan, False),
    ("ne", True, False, True),
    ("ne", True, 0, False),
    # in / not_in
    ("in", ["US", "CA"], "CA", True),
    ("in", ["US", "CA"], "DE", False),
    ("in", ["US", "CA"], MISSING, False),
    ("in", ["US", 1], 1, True),
    ("in", ["US", 1], "1", False),
    ("in", [1, 2], True, False),
    ("in", [True], True, True),
    ("in", ["a"], {"a": 1}, False),
    ("in", ["a"], ["a"], False),
    ("not_in", ["US", "CA"], "DE", True),
    ("not_in", ["US", "CA"], "US", False),
    ("not_in", ["US", "CA"], MISSING, False),
    ("not_in", ["US", "CA"], None, False),
    ("not_in", ["US", "CA"], 3, False),
    ("not_in", [1, 2], 3.5, True),
    # numeric comparisons
    ("lt", 10, 9, True),
    ("lt", 10, 10, False),
    ("lte", 10, 10, True),
    ("gt", 9, "10", False),
    ("gt", 9, 10, True),
    ("gte", 9, 9.0, True),
    ("gte", 9, True, False),
    ("gte", 9, MISSING, False),
    ("gte", 9, None, False),
    ("gt", 1e300, HUGE, True),
    ("lt", 1e300, -HUGE, True),
    ("gt", 0, math.inf, True),
    ("lt", 0, math.nan, False),
    ("gte", 0, math.nan, False),
    ("gt", 1, Decimal("1.5"), True),
    ("lt", 1, "0", False),
    # semantic versions
    ("semver_gte", "4.2.0", "4.10.0", True),
    ("semver_gte", "4.2.0", "4.2", True),
    ("semver_gte", "4.2.0", "v4.2.0", True),
    ("semver_gte", "4.2.0", "4.2.0-rc.1", False),
    ("semver_gt", "4.2.0", "4.2.0+build.5", False),
    ("semver_eq", "4.2.0", "4.2.0+build.5", True),
    ("semver_lt", "1.0.0", "1.0.0-alpha", True),
    ("semver_lt", "1.0.0-alpha.10", "1.0.0-alpha.2", True),
    ("semver_lte", "4.2.0", "4.2.0", True),
    ("semver_gte", "4.2.0", "banana", False),
    ("semver_gte", "4.2.0", 4.2, False),
    ("semver_gte", "4.2.0", MISSING, False),
    ("semver_gte", "4.2.0", "99999999999999999.0.0", True),
    ("semver_gte", "4.2.0", "4.2.0" * 100, False),
    # dates and datetimes
    ("before", "2026-01-01", "2025-12-31", True),
    ("before", "2026-01-01", "2026-01-01", False),
    ("before", "2026-01-01", "2025-12-31T23:59:59Z", True),
    ("before", "2026-01-01T00:00:00Z", "2026-01-01T01:00:00+02:00", True),
    ("after", "2026-01-01", datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC), True),
    ("after", "2026-01-01", datetime(2026, 1, 1, 0, 0, 1), True),
    ("after", "2026-01-01", date(2026, 1, 2), True),
    ("after", "2026-01-01", datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=2))), False),
    ("after", "2026-01-01", "not a date", False),
    ("after", "2026-01-01", 1767225600, False),
    ("after", "2026-01-01", MISSING, False),
    # string operators
    ("contains", "pro", "enterprise-pro", True),
    ("contains", "PRO", "enterprise-pro", False),
    ("contains", "", "anything", True),
    ("contains", "pro", 5, False),
    ("contains", "pro", MISSING, False),
    ("starts_with", "Straße", "Straßenbahn", True),
    ("starts_with", "a", "ba", False),
    ("ends_with", "@abwb.example", "ann@abwb.example", True),
    ("ends_with", "@abwb.example", None, False),
    ("ends_with", "x", "x" * 1_000_000, True),
    # regex (RE2, search semantics)
    ("regex", r"^user-\d+$", "user-42", True),
    ("regex", r"^user-\d+$", "user-x", False),
    ("regex", r"\d", "abc1", True),
    ("regex", "^ü+$", "üüü", True),
    ("regex", r"^\d+$", 42, False),
    ("regex", "a", MISSING, False),
    ("regex", "(a|b)*c", "ab" * 100_000, False),
    # presence
    ("exists", None, "", True),
    ("exists", None, 0, True),
    ("exists", None, False, True),
    ("exists", None, None, False),
    ("exists", None, MISSING, False),
    ("not_exists", None, MISSING, True),
    ("not_exists", None, None, True),
    ("not_exists", None, "", False),
]


@pytest.mark.parametrize(("op", "value", "attr", "expected"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_operator_table(op: str, value: Any, attr: Any, expected: bool) -> None:
    assert check(op, value, attr) is expected


def test_every_operator_is_covered_by_the_table() -> None:
    from abwb.targeting import OPERATORS

    assert {c[0] for c in CASES} == set(OPERATORS)


@pytest.mark.parametrize(("op", "value", "attr", "expected"), [
    ("eq", "us", "US", True),
    ("eq", "straße", "STRASSE", True),
    ("ne", "us", "US", False),
    ("in", ["us", "ca"], "CA", True),
    ("not_in", ["us"], "US", False),
    ("contains", "PRO", "enterprise-pro", True),
    ("starts_with", "ÉCOLE", "école normale", True),
    ("ends_with", "@ABWB.EXAMPLE", "ann@abwb.example", True),
    ("regex", "^ANN@", "ann@abwb.example", True),
])
def test_ignore_case(op: str, value: Any, attr: Any, expected: bool) -> None:
    assert check(op, value, attr, ignore_case=True) is expected
    if expected:
        assert check(op, value, attr, ignore_case=False) is (op in ("ne", "not_in"))


def test_nested_and_literal_dotted_paths() -> None:
    rule = compile_condition({"attr": "app.version", "op": "semver_gte", "value": "4.2.0"})
    assert rule({"app": {"version": "4.3.0"}})[0]
    assert rule({"app.version": "4.3.0"})[0]
    assert rule({"app.version": "4.3.0", "app": {"version": "1.0.0"}})[0]  # literal key wins
    assert not rule({"app": "4.3.0"})[0]
    assert not rule({"app": {"build": 7}})[0]
    assert rule({"app": {"version": None}}) == (
        False, "app.version semver_gte '4.2.0' failed: attribute missing")


def test_combinators_and_explanations() -> None:
    rule = compile_condition({"all": [
        {"attr": "country", "op": "in", "value": ["US", "CA"]},
        {"any": [{"attr": "plan", "op": "eq", "value": "pro"},
                 {"attr": "age", "op": "gte", "value": 30}]},
        {"not": {"attr": "beta", "op": "eq", "value": True}},
    ]})
    assert rule({"country": "US", "plan": "pro"}) == (True, "")
    assert rule({"country": "DE", "plan": "pro"}) == (
        False, "country in ['US', 'CA'] failed: got 'DE'")
    assert rule({"country": "US", "plan": "free", "age": "40"}) == (
        False, "none of 2 alternatives matched: plan eq 'pro' failed: got 'free'; "
               "age gte 30 failed: got '40' (string, expected a number)")
    assert rule({"country": "US", "plan": "pro", "beta": True}) == (
        False, "not (beta eq True) failed: it matched")
    assert rule({"country": "US", "plan": "pro", "beta": "yes"})[0]  # not(eq) is true on mismatch


def test_segments_compile_and_explain() -> None:
    from abwb.config import Segment

    staff = Segment(key="internal-staff",
                    condition={"attr": "email", "op": "ends_with", "value": "@abwb.example"})
    rule = compile_condition({"segment": "internal-staff"}, segments=[staff])
    assert rule({"email": "a@abwb.example"}) == (True, "")
    assert rule({"email": "a@gmail.com"}) == (
        False, "segment 'internal-staff' did not match: email ends_with '@abwb.example' "
               "failed: got 'a@gmail.com'")
    outside = compile_condition({"not": {"segment": "internal-staff"}}, segments=[staff])
    assert outside({})[0] and not outside({"email": "b@abwb.example"})[0]


def test_long_and_unicode_values_in_explanations_are_bounded() -> None:
    rule = compile_condition({"attr": "name", "op": "eq", "value": "x"})
    matched, why = rule({"name": "é" * 10_000})
    assert not matched and len(why) < 200 and why.endswith("...")
