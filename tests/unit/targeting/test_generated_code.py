"""Conditions compile to generated Python: it answers as the documented semantics say.

The reference below is a slow, direct reading of docs/targeting.md (dotted lookup with
a literal key winning, fail closed on a missing attribute or a value of the wrong
type, typed equality). Hypothesis draws conditions over every operator, with
combinators and segments, and attributes of many types and shapes; the compiled
predicate, each clause's compiled test and the reference must agree on every draw.
"""

from __future__ import annotations

import math
import re
import types
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from abwb.config import Segment
from abwb.targeting import OPERATORS, compile_clause, compile_condition, make_compiler
from abwb.targeting.grammar import parse_instant
from abwb.targeting.semver import parse_semver


class Text(str):
    """A str subclass: equality operators take its text, string operators refuse it."""


MISSING = object()
PATHS = ["x", "app.version", "a.b.c", 'q"]) or (1']
VALUES: list[Any] = [
    "US", "us", "", Text("US"), "4.2.0", "4.10.1", "4.2.0-rc.1", "v4.2", "banana",
    "2026-01-01", "2025-12-31T23:59:59Z", "pro-plan", "ß", "'); import os; ('",
    0, 1, 9, 10, -3, 10**30, 1.0, 0.5, math.nan, math.inf, True, False,
    Decimal("9.5"), np.float64(9.5), np.float32(0.5), np.int64(10), np.bool_(True),
    date(2026, 1, 2), datetime(2025, 6, 1, tzinfo=UTC), datetime(2027, 1, 1),
    [1], {"a": 1}, None, MISSING,
]
LITERALS: dict[str, list[Any]] = {
    "scalar": ["US", "us", "ß", 10, 1, 0.5, True, False, "4.2.0", "'); import os; ('"],
    "list": [["US", "CA"], ["us"], ["US", 1], [1, 2], [True], [0.5, "x"], ["4.2.0", "banana"]],
    "number": [0, 9, 10, 0.5, -3, 10**30],
    "semver": ["4.2.0", "1.0.0-alpha", "4.10"],
    "instant": ["2026-01-01", "2026-01-01T00:00:00Z"],
    "string": ["U", "pro", "", "4.", "S", "'"],
    "regex": ["^u", r"\d", r"^4\.2", "s$"],
}


@st.composite
def clauses(draw: st.DrawFn) -> dict[str, Any]:
    op = draw(st.sampled_from(sorted(OPERATORS)))
    clause: dict[str, Any] = {"attr": draw(st.sampled_from(PATHS)), "op": op}
    kind = OPERATORS[op].value_kind
    if kind != "none":
        clause["value"] = draw(st.sampled_from(LITERALS[kind]))
    fold_allowed = OPERATORS[op].ignore_case and all(
        isinstance(v, str) for v in (clause["value"] if kind == "list" else [clause["value"]]))
    if fold_allowed and draw(st.booleans()):
        clause["ignore_case"] = True
    return clause


SEGMENTS = [
    Segment(key="na", condition={"any": [{"attr": "x", "op": "in", "value": ["US", "CA"]},
                                         {"attr": "app.version", "op": "semver_lt",
                                          "value": "4.0.0"}]}),
    Segment(key="pro", condition={"all": [{"segment": "na"},
                                          {"attr": "x", "op": "contains", "value": "S"}]}),
]
conditions = st.recursive(
    st.one_of(clauses(), st.sampled_from([{"segment": "na"}, {"segment": "pro"}])),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=4).map(lambda cs: {"all": cs}),
        st.lists(inner, min_size=1, max_size=4).map(lambda cs: {"any": cs}),
        inner.map(lambda c: {"not": c}),
    ),
    max_leaves=8,
)


@st.composite
def attributes(draw: st.DrawFn) -> dict[str, Any]:
    """Attributes where each path is flat, nested in dicts or other mappings, or absent."""
    attrs: dict[str, Any] = {}
    for path in PATHS:
        value = draw(st.sampled_from(VALUES))
        shape = draw(st.sampled_from(["flat", "nested", "mapping", "blocked", "both"]))
        parts = path.split(".")
        if value is MISSING or (len(parts) == 1 and shape != "flat"):
            if value is not MISSING:
                attrs[path] = value
            continue
        if shape in ("flat", "both"):
            attrs[path] = value
        if shape in ("nested", "mapping", "both"):
            node: Any = draw(st.sampled_from(VALUES)) if shape == "both" else value
            for part in reversed(parts[1:]):
                node = {part: node}
                if shape == "mapping":
                    node = types.MappingProxyType(node)
            attrs.setdefault(parts[0], node)
        if shape == "blocked":  # the path's head is not a mapping
            attrs[parts[0]] = "web"
    return attrs


# -- the reference ---------------------------------------------------------------------


def lookup(attrs: Mapping[str, Any], path: str) -> Any:
    if path in attrs:
        return attrs[path]
    node: Any = attrs
    for part in path.split("."):
        if not isinstance(node, Mapping) or node.get(part) is None:
            return None
        node = node[part]
    return node


def number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, np.number)):
        return None
    return None if math.isnan(value) else value


FAMILIES: list[tuple[str, Any]] = [  # in order: a bool is an int too
    ("missing", type(None)), ("bool", bool), ("string", str),
    ("number", (int, float, Decimal, np.number)),
]


def family(value: Any) -> str:
    return next((name for name, kinds in FAMILIES if isinstance(value, kinds)), "other")


def equality_key(value: Any, fold: bool) -> Any:
    if isinstance(value, bool):
        return ("bool", bool(value))
    if isinstance(value, str):
        return str(value).casefold() if fold else str(value)
    return number(value) if family(value) == "number" else None


def holds(clause: Mapping[str, Any], attrs: Mapping[str, Any]) -> bool:
    return bool(_holds(clause, attrs))  # numpy comparisons answer numpy booleans


def _holds(clause: Mapping[str, Any], attrs: Mapping[str, Any]) -> Any:
    value, op = lookup(attrs, clause["attr"]), clause["op"]
    literal, fold = clause.get("value"), clause.get("ignore_case", False)
    if op in ("exists", "not_exists"):
        return (value is not None) == (op == "exists")
    if op in ("eq", "ne", "in", "not_in"):
        literals = literal if isinstance(literal, list) else [literal]
        key = equality_key(value, fold)
        keys = {equality_key(v, fold) for v in literals}
        if op in ("eq", "in"):
            return key is not None and key in keys
        return family(value) in {family(v) for v in literals} and key is not None \
            and key not in keys
    compare = {"lt": lambda a, b: a < b, "lte": lambda a, b: a <= b, "eq": lambda a, b: a == b,
               "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b}
    if op in ("lt", "lte", "gt", "gte"):
        n = number(value)
        return n is not None and compare[op](n, literal)
    if op in ("before", "after"):
        at = parse_instant(value) if isinstance(value, (str, date)) else None
        return at is not None and compare["lt" if op == "before" else "gt"](
            at, parse_instant(literal))
    if type(value) is not str:  # the string operators take exactly a str
        return False
    if op.startswith("semver_"):
        key = parse_semver(value)
        return key is not None and compare[op.removeprefix("semver_")](key, parse_semver(literal))
    subject, needle = (value.casefold(), literal.casefold()) if fold else (value, literal)
    if op == "contains":
        return needle in subject
    if op == "starts_with":
        return subject.startswith(needle)
    if op == "ends_with":
        return subject.endswith(needle)
    return re.search(literal, value, re.IGNORECASE if fold else 0) is not None  # regex


def matches(condition: Mapping[str, Any], attrs: Mapping[str, Any]) -> bool:
    if "attr" in condition:
        return holds(condition, attrs)
    if "all" in condition:
        return all(matches(c, attrs) for c in condition["all"])
    if "any" in condition:
        return any(matches(c, attrs) for c in condition["any"])
    if "not" in condition:
        return not matches(condition["not"], attrs)
    return matches(next(s.condition for s in SEGMENTS if s.key == condition["segment"]), attrs)


# -- the properties --------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(clause=clauses(), attrs=attributes())
def test_every_clause_answers_as_the_reference(clause: dict[str, Any],
                                               attrs: dict[str, Any]) -> None:
    expected = holds(clause, attrs)
    assert bool(compile_clause(clause)(attrs)) is expected
    matched, why = compile_condition(clause)(attrs)
    assert matched is expected and (why == "") is expected


@settings(max_examples=300, deadline=None)
@given(condition=conditions, attrs=attributes())
def test_every_condition_answers_as_the_reference(condition: Any,
                                                  attrs: dict[str, Any]) -> None:
    expected = matches(condition, attrs)
    compiler = make_compiler(SEGMENTS)
    matched, why = compiler(condition)(attrs)
    assert matched is expected and (why == "") is expected
    # The engine's pre-resolved attributes give the same answer and explanation.
    assert compiler(condition)(compiler.resolved(attrs)) == (matched, why)


def test_condition_text_never_becomes_code() -> None:
    hostile = "'); __import__('os').system('false'); ('"
    rule = compile_condition({"all": [
        {"attr": hostile, "op": "eq", "value": hostile},
        {"attr": "x", "op": "in", "value": [hostile, '"""', "\\"]},
        {"attr": "y", "op": "regex", "value": "^'\\)"},
    ]})
    assert rule({hostile: hostile, "x": '"""', "y": "')"}) == (True, "")
    assert rule({hostile: "other", "x": "\\", "y": "')"})[1].startswith(
        f"{hostile} eq {hostile!r} failed")


def test_an_explanation_names_the_first_failing_clause_inside_nesting() -> None:
    rule = compile_condition({"all": [
        {"attr": "app.version", "op": "semver_gte", "value": "4.2.0"},
        {"any": [{"attr": "x", "op": "eq", "value": "US"},
                 {"not": {"attr": "x", "op": "exists"}}]},
    ]})
    assert rule({"app": {"version": "4.3"}, "x": "US"}) == (True, "")
    assert rule({"app": {"version": "4.1"}}) == (
        False, "app.version semver_gte '4.2.0' failed: got '4.1'")
    assert rule({"app": {"version": "4.3"}, "x": "DE"}) == (
        False, "none of 2 alternatives matched: x eq 'US' failed: got 'DE'; "
               "not (x exists) failed: it matched")


def test_clauses_equal_in_python_but_not_in_the_language_compile_apart() -> None:
    # Compiled tests are cached by clause; 1, 1.0 and True are one dict key in Python.
    one = compile_clause({"attr": "x", "op": "eq", "value": 1})
    true = compile_clause({"attr": "x", "op": "eq", "value": True})
    listed = compile_clause({"attr": "x", "op": "in", "value": [True]})
    assert one({"x": 1}) and one({"x": 1.0}) and not one({"x": True})
    assert true({"x": True}) and not true({"x": 1})
    assert listed({"x": True}) and not listed({"x": 1})
    assert compile_clause({"attr": "x", "op": "eq", "value": 1}) is one


def test_a_condition_compiles_once_for_every_config_version_until_a_segment_changes() -> None:
    condition = {"all": [{"segment": "staff"}, {"attr": "x", "op": "gte", "value": 1}]}
    staff = Segment(key="staff", condition={"attr": "email", "op": "ends_with", "value": "@a.io"})
    first = make_compiler([staff])(condition)
    assert make_compiler([staff])(condition) is first  # the next version: not compiled again
    moved = Segment(key="staff", condition={"attr": "email", "op": "ends_with", "value": "@b.io"})
    second = make_compiler([moved])(condition)
    assert second is not first
    row = {"email": "ann@b.io", "x": 2}
    assert not first(row)[0] and second(row) == (True, "")
    # 1 and 1.0 are one literal in the language (numbers), True is not
    assert make_compiler()({"attr": "x", "op": "eq", "value": True})({"x": 1})[0] is False
    assert make_compiler()({"attr": "x", "op": "eq", "value": 1})({"x": 1})[0] is True
