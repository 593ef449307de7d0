"""Bundle validation of flags: prerequisite cycles, prerequisite variations, delegation types."""

from __future__ import annotations

from typing import Any

import pytest

from abwb.config import ConfigBundle
from abwb.config.flag import Flag, Prerequisite, prerequisite_cycles
from abwb.errors import InvalidInput


def raw_flag(key: str, *prereqs: tuple[str, str], **kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"key": key, "type": "bool", "variations": {"on": True, "off": False},
                            "default_variation": "on", "off_variation": "off",
                            "prerequisites": [{"key": k, "variation": v} for k, v in prereqs]}
    data.update(kw)
    return data


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidInput) as info:
        ConfigBundle.from_data(data)
    return [str(p) for p in info.value.problems]


def test_prerequisite_cycle_is_refused_with_the_path_and_the_loop() -> None:
    got = problems({"flags": [raw_flag("a", ("b", "on")), raw_flag("b", ("c", "on")),
                              raw_flag("c", ("a", "on")), raw_flag("d", ("a", "on"))]})
    assert got == [
        "flags[0].prerequisites[0].key: prerequisite cycle: a → b → c → a",
        "flags[1].prerequisites[0].key: prerequisite cycle: b → c → a → b",
        "flags[2].prerequisites[0].key: prerequisite cycle: c → a → b → c",
    ]


def test_acyclic_diamond_is_fine() -> None:
    bundle = ConfigBundle.from_data({"flags": [raw_flag("a"), raw_flag("b", ("a", "on")),
                                               raw_flag("c", ("a", "on")), raw_flag("d", ("b", "on"), ("c", "off"))]})
    assert prerequisite_cycles(bundle.flags) == {}


def test_long_chain_does_not_hit_the_recursion_limit() -> None:
    def f(i: int, pre: str | None) -> Flag:
        return Flag(key=f"f{i}", type="bool", variations={"on": True, "off": False}, default_variation="on",
                    off_variation="off", prerequisites=[Prerequisite(pre, "on")] if pre else [])
    chain = [f(i, f"f{i + 1}" if i < 1499 else "f0") for i in range(1500)]
    assert len(prerequisite_cycles(chain)) == 1500


def test_prerequisite_must_name_a_variation_of_the_other_flag() -> None:
    got = problems({"flags": [raw_flag("a"), raw_flag("b", ("a", "maybe"))]})
    assert got == ["flags[1].prerequisites[0].variation: flag 'a' has no variation 'maybe'"]


def test_delegating_flag_needs_experiment_payloads_of_its_type() -> None:
    exp = {"key": "exp", "variants": [{"key": "control", "weight": 0.5, "is_control": True, "payload": "x"},
                                      {"key": "on", "weight": 0.5}]}
    got = problems({"experiments": [exp], "flags": [raw_flag("a", rules=[{"experiment": "exp"}])]})
    assert len(got) == 1
    assert got[0].startswith("flags[0].rules[0].experiment: variant 'control' of experiment 'exp' serves 'x'")
