"""Experiments with identical conditions share one predicate, evaluated once per request."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from abwb.assignment import Assigner, Predicate, Reason
from abwb.config import ConfigBundle, Experiment, Segment, Variant
from abwb.targeting import compile_condition

NOW = datetime(2026, 1, 1, tzinfo=UTC)
US = {"attr": "country", "op": "in", "value": ["US", "CA"]}
ONE = {"attr": "n", "op": "eq", "value": 1}
ONE_FLOAT = {"attr": "n", "op": "eq", "value": 1.0}
TRUE = {"attr": "n", "op": "eq", "value": True}


def exp(key: str, targeting: Any, **kw: Any) -> Experiment:
    return Experiment(key=key, status="running", targeting=targeting, traffic_fraction=0.7,
                      variants=[Variant(key="c", weight=0.5, is_control=True),
                                Variant(key="t", weight=0.5)], **kw)


def counting_compiler() -> tuple[Counter[str], Counter[str], Any]:
    compiled: Counter[str] = Counter()
    evaluated: Counter[str] = Counter()

    def compile_one(condition: Any) -> Predicate:
        text = repr(condition)
        compiled[text] += 1
        inner = compile_condition(condition)

        def predicate(attrs: Any) -> tuple[bool, str]:
            evaluated[text] += 1
            return inner(attrs)

        return predicate

    return compiled, evaluated, compile_one


def test_identical_conditions_compile_once_and_run_once_per_request() -> None:
    # Key order differs: the same audience all the same.
    reordered = {"value": ["US", "CA"], "op": "in", "attr": "country"}
    experiments = [exp("a", US), exp("b", reordered), exp("c", {"all": [US]}), exp("d", None)]
    compiled, evaluated, compiler = counting_compiler()
    assigner = Assigner(ConfigBundle(experiments=experiments), compile_condition=compiler)
    assert sum(compiled.values()) == 2  # US (shared by a and b) and {"all": [US]}
    result = assigner.assign("u1", now=NOW, attributes={"country": "DE"})
    assert sum(evaluated.values()) == 2
    reasons = [d.reason for d in result.decisions]
    assert reasons[:3] == [Reason.TARGETING_MISS] * 3
    assert result.decisions[0].detail == result.decisions[1].detail != ""


def test_shared_predicates_give_the_answers_of_separate_ones() -> None:
    experiments = [exp(f"e{i}", US if i % 2 else ONE, salt=f"s{i}") for i in range(6)]
    shared = Assigner(ConfigBundle(experiments=experiments))
    for i in range(300):
        attrs = {"country": ["US", "DE", None][i % 3], "n": [1, 2][i % 2]}
        got = shared.assign(f"u{i}", now=NOW, attributes=attrs).decisions
        for e, d in zip(experiments, got, strict=True):
            alone = Assigner(ConfigBundle(experiments=[e]))
            assert alone.decide(e.key, f"u{i}", now=NOW, attributes=attrs) == d


def test_conditions_that_differ_only_in_literal_type_are_not_shared() -> None:
    assigner = Assigner(ConfigBundle(experiments=[exp("i", ONE), exp("f", ONE_FLOAT),
                                                  exp("b", TRUE)]))
    for attrs, expected in [({"n": 1}, (True, True, False)), ({"n": True}, (False, False, True))]:
        result = assigner.assign("u1", now=NOW, attributes=attrs)
        assert tuple(d.reason is not Reason.TARGETING_MISS for d in result.decisions) == expected


ATTRS_SHAPES: list[dict[str, Any]] = [
    {"app": {"version": "4.3.1", "build": 7}, "country": "US"},
    {"app.version": "3.0.0", "app": {"version": "4.3.1"}},  # a literal key wins
    {"app": {"version": "5.0.0-beta.1"}, "app.build": 9},
    {"app": "web"},
    {"app": None, "country": "DE"},
    {"app": {"version": None}},
    {},
]


def test_dotted_paths_resolved_once_give_the_answers_of_separate_predicates() -> None:
    staff = Segment(key="new-builds", condition={"attr": "app.build", "op": "gte", "value": 8})
    conditions: list[Any] = [
        {"attr": "app.version", "op": "semver_gte", "value": "4.2.0"},
        {"attr": "app.version", "op": "semver_lt", "value": "5.0.0"},
        {"attr": "app.version", "op": "exists"},
        {"attr": "app.version", "op": "not_exists"},
        {"any": [{"segment": "new-builds"}, {"attr": "country", "op": "eq", "value": "US"}]},
        {"not": {"attr": "app.build", "op": "lt", "value": 8}},
    ]
    experiments = [exp(f"e{i}", c, salt=f"s{i}") for i, c in enumerate(conditions)]
    together = Assigner(ConfigBundle(experiments=experiments, segments=[staff]))
    for i, attrs in enumerate(ATTRS_SHAPES):
        got = together.assign(f"u{i}", now=NOW, attributes=attrs).decisions
        for e, d in zip(experiments, got, strict=True):
            alone = Assigner(ConfigBundle(experiments=[e], segments=[staff]))
            assert alone.decide(e.key, f"u{i}", now=NOW, attributes=attrs) == d, (e.key, attrs)
    assert {d.reason for d in together.assign("u1", now=NOW).decisions} >= {
        Reason.TARGETING_MISS}


def test_custom_compilers_see_the_attributes_as_sent() -> None:
    seen: list[Any] = []

    def spying(condition: Any) -> Predicate:
        inner = compile_condition(condition)

        def predicate(attrs: Any) -> tuple[bool, str]:
            seen.append(dict(attrs))
            return inner(attrs)

        return predicate

    experiments = [exp("a", {"attr": "app.version", "op": "exists"}),
                   exp("b", {"attr": "app.version", "op": "not_exists"})]
    Assigner(ConfigBundle(experiments=experiments), compile_condition=spying).assign(
        "u1", now=NOW, attributes={"app": {"version": "1.0.0"}})
    assert seen == [{"app": {"version": "1.0.0"}}] * 2
