"""Bad rules are rejected with a path and a message; bundles and `abwb validate` report them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from abwb.cli import main
from abwb.config import ConfigBundle, Segment
from abwb.errors import InvalidInput
from abwb.targeting import compile_condition, condition_problems

CLAUSE = {"attr": "country", "op": "eq", "value": "US"}


@pytest.mark.parametrize(("condition", "expected"), [
    ({"all": [CLAUSE, {"attr": "app.version", "op": "semver_gt3", "value": "4.2.0"}]},
     "t.all[1].op: unknown operator 'semver_gt3'; did you mean 'semver_gt'?"),
    ({"attr": "x", "op": "frobnicate", "value": 1},
     "t.op: unknown operator 'frobnicate'; expected one of ["),
    ({"attr": "age", "op": "gte", "value": "30"},
     "t.value: operator 'gte' needs a finite number, got string '30'"),
    ({"attr": "age", "op": "gte", "value": True},
     "t.value: operator 'gte' needs a finite number, got boolean True"),
    ({"attr": "v", "op": "semver_gte", "value": "4.x"},
     "t.value: is not a semantic version (e.g. '4.2.0', '4.2.0-rc.1'): '4.x'"),
    ({"attr": "v", "op": "semver_gte", "value": 4},
     "t.value: operator 'semver_gte' needs a string, got number 4"),
    ({"attr": "d", "op": "before", "value": "31/01/2026"},
     "t.value: is not an ISO-8601 date or datetime"),
    ({"attr": "d", "op": "before", "value": "2026-01-31T09:00:00"},
     "t.value: a datetime must carry a timezone"),
    ({"attr": "c", "op": "in", "value": "US"},
     "t.value: operator 'in' needs a non-empty list, got 'US'"),
    ({"attr": "c", "op": "in", "value": []}, "t.value: operator 'in' needs a non-empty list"),
    ({"attr": "c", "op": "in", "value": ["US", None, {"a": 1}]},
     "t.value[1]: operator 'in' cannot compare with null; use exists / not_exists"),
    ({"attr": "c", "op": "eq", "value": None}, "t.value: operator 'eq' cannot compare with null"),
    ({"attr": "c", "op": "eq"}, "t.value: operator 'eq' needs a value"),
    ({"attr": "c", "op": "exists", "value": 1}, "t.value: operator 'exists' takes no value"),
    ({"attr": "c", "op": "gt", "value": 1, "ignore_case": True},
     "t.ignore_case: is not supported by operator 'gt'"),
    ({"attr": "c", "op": "eq", "value": "x", "ignore_case": "yes"},
     "t.ignore_case: must be true or false, got 'yes'"),
    ({"attr": "", "op": "exists"}, "t.attr: must be a non-empty string"),
    ({"attr": "app..version", "op": "exists"}, "t.attr: has an empty path component"),
    ({"attr": "c", "op": "eq", "value": 1, "extra": 2}, "t: unexpected keys ['extra']"),
    ({"all": []}, "t.all: must be a non-empty list of conditions"),
    ({"all": [CLAUSE], "any": [CLAUSE]}, "t: must hold exactly one of"),
    ({"not": CLAUSE, "x": 1}, "t: unexpected keys ['x'] next to 'not'"),
    ("country == US", "t: must be a condition object, got string"),
    ({"segment": "nobody"}, "t.segment: unknown segment 'nobody' (no segments defined)"),
    ({"attr": "u", "op": "regex", "value": "(a+)+$"},
     "t.value: nested quantifier '(a+)+' is rejected"),
    ({"attr": "u", "op": "regex", "value": r"(\w+\s?)*$"}, "t.value: nested quantifier"),
    ({"attr": "u", "op": "regex", "value": "x" * 513},
     "t.value: pattern must be at most 512 characters, got 513"),
    ({"attr": "u", "op": "regex", "value": "(?<=a)b"},
     "t.value: RE2 cannot compile the pattern: invalid perl operator: (?<="),
    ({"attr": "u", "op": "regex", "value": "[a-z"},
     "t.value: RE2 cannot compile the pattern: missing ]"),
    ({"attr": "u", "op": "regex", "value": "((((a{100}){100}){100}){100})"},
     "t.value: "),
])
def test_bad_rules_are_rejected_with_path_and_message(condition: Any, expected: str) -> None:
    problems = [str(p) for p in condition_problems(condition, "t")]
    assert any(p.startswith(expected) for p in problems), problems
    with pytest.raises(InvalidInput) as info:
        compile_condition(condition, path="t")
    assert any(str(p).startswith(expected) for p in info.value.problems)


def test_regex_blowup_is_bounded() -> None:
    [problem] = condition_problems(
        {"attr": "u", "op": "regex", "value": "((((a{100}){100}){100}){100})"}, "t")
    assert "RE2" in problem.message


def test_valid_regexes_pass() -> None:
    for pattern in [r"^user-\d+$", r"(\w+\.)+com$", r"^[a-z]+(\.[a-z]+)*$", "(?i)^beta"]:
        assert condition_problems({"attr": "u", "op": "regex", "value": pattern}) == []


def test_size_and_depth_bounds() -> None:
    deep: Any = CLAUSE
    for _ in range(20):
        deep = {"not": deep}
    assert any("nest deeper than 12" in p.message for p in condition_problems(deep, "t"))
    wide = {"any": [CLAUSE] * 300}
    assert any("more than 256 clauses" in p.message for p in condition_problems(wide, "t"))
    many = {"attr": "c", "op": "in", "value": list(range(10_001))}
    assert [p.message for p in condition_problems(many)] == [
        "must hold at most 10000 values, got 10001"]


def test_every_problem_is_reported_at_once() -> None:
    problems = condition_problems({"all": [
        {"attr": "a", "op": "nope", "value": 1},
        {"attr": "b", "op": "gt", "value": "x"},
        {"segment": "ghost"},
    ]}, "targeting")
    assert [p.path for p in problems] == [
        "targeting.all[0].op", "targeting.all[1].value", "targeting.all[2].segment"]


def test_segment_cycles_and_nesting_are_rejected() -> None:
    segments = {
        "a": Segment(key="a", condition={"any": [CLAUSE, {"segment": "b"}]}),
        "b": Segment(key="b", condition={"not": {"segment": "c"}}),
        "c": Segment(key="c", condition={"segment": "a"}),
        "self": Segment(key="self", condition={"segment": "self"}),
    }
    [problem] = condition_problems({"segment": "a"}, "t", segments)
    assert (problem.path, problem.message) == (
        "t.segment", "segment reference cycle: a -> b -> c -> a")
    [problem] = condition_problems({"segment": "self"}, "t", segments)
    assert problem.message == "segment reference cycle: self -> self"
    with pytest.raises(InvalidInput, match="cycle"):
        compile_condition({"segment": "a"}, segments=segments)
    chain = {f"s{i}": Segment(key=f"s{i}", condition={"segment": f"s{i + 1}"})
             for i in range(10)}
    chain["s10"] = Segment(key="s10", condition=CLAUSE)
    [problem] = condition_problems({"segment": "s0"}, "t", chain)
    assert problem.message.startswith("segment references nest deeper than 8")


def test_invalid_segment_condition_blocks_compilation_every_time() -> None:
    segments = [Segment(key="bad", condition={"attr": "x", "op": "nope", "value": 1})]
    from abwb.targeting import make_compiler

    compile_one = make_compiler(segments)
    for _ in range(2):
        with pytest.raises(InvalidInput) as info:
            compile_one({"segment": "bad"})
        assert str(info.value.problems[0]).startswith("segments['bad'].condition.op")


def bundle_data(targeting: Any, segments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "segments": segments or [],
        "experiments": [{
            "key": "e", "status": "running", "targeting": targeting,
            "variants": [{"key": "c", "weight": 0.5, "is_control": True},
                         {"key": "t", "weight": 0.5}],
        }],
    }


def test_bundle_reports_grammar_errors_and_unknown_segments_with_paths() -> None:
    data = bundle_data(
        {"all": [{"attr": "country", "op": "in", "value": ["US"]},
                 {"attr": "app.version", "op": "semver_gt3", "value": "4.2.0"},
                 {"segment": "internal-staf"}]},
        segments=[{"key": "internal-staff", "condition": {"attr": "staff", "op": "eq",
                                                          "value": "maybe", "x": 1}}],
    )
    with pytest.raises(InvalidInput) as info:
        ConfigBundle.from_data(data)
    assert [str(p) for p in info.value.problems] == [
        "experiments[0].targeting.all[1].op: unknown operator 'semver_gt3'; "
        "did you mean 'semver_gt'?",
        "experiments[0].targeting.all[2].segment: unknown segment 'internal-staf'; "
        "known: ['internal-staff']",
        "segments[0].condition: unexpected keys ['x']; a clause has attr, op, value, ignore_case",
    ]


def test_bundle_reports_flag_rule_conditions() -> None:
    data = {"flags": [{"key": "f", "type": "bool", "variations": {"on": True, "off": False},
                       "default_variation": "off", "off_variation": "off",
                       "rules": [{"condition": {"attr": "x", "op": "lt", "value": "1"},
                                  "variation": "on"}]}]}
    with pytest.raises(InvalidInput) as info:
        ConfigBundle.from_data(data)
    assert [p.path for p in info.value.problems] == ["flags[0].rules[0].condition.value"]


def test_abwb_validate_prints_rule_problems(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    import json

    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bundle_data({"attr": "u", "op": "regex", "value": "(a+)+$"})))
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert "experiments[0].targeting.value: nested quantifier '(a+)+' is rejected" in err
