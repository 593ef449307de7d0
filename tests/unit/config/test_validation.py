"""Every validation rule reports its path and message; bad input never gives a traceback."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from abwb.cli import main
from abwb.config import ConfigBundle, Experiment, Variant, dump_bundle, load_bundle
from abwb.errors import InvalidInput


def experiment(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "key": "exp",
        "variants": [
            {"key": "control", "weight": 0.5, "is_control": True},
            {"key": "b", "weight": 0.5},
        ],
    }
    data.update(overrides)
    return data


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidInput) as info:
        ConfigBundle.from_data(data)
    return [str(p) for p in info.value.problems]


TWO = [{"key": "control", "weight": 0.5, "is_control": True}, {"key": "b", "weight": 0.5}]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"key": "Bad Key"}, "experiments[0].key: must be 1-64 chars"),
        ({"key": "x" * 65}, "experiments[0].key: must be 1-64 chars"),
        ({"variants": TWO[:1]}, "experiments[0].variants: needs at least 2 variants, got 1"),
        (
            {"variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}]},
            "experiments[0].variants: needs exactly one control (is_control: true), got 0",
        ),
        (
            {"variants": [{**TWO[0]}, {**TWO[0]}]},
            "experiments[0].variants[1].key: duplicate variant key",
        ),
        (
            {"variants": [TWO[0], {"key": "b", "weight": 0.6}, {"key": "c", "weight": -0.1}]},
            "experiments[0].variants[2].weight: must be >= 0, got -0.1",
        ),
        (
            {"variants": [TWO[0], {"key": "b", "weight": math.nan}]},
            "experiments[0].variants[1].weight: must be finite, got nan",
        ),
        (
            {"variants": [TWO[0], {"key": "b", "weight": math.inf}]},
            "experiments[0].variants[1].weight: must be finite, got inf",
        ),
        (
            {"variants": [TWO[0], {"key": "b", "weight": 0.6}]},
            "experiments[0].variants: weights must sum to 1 (±1e-9), got 1.1",
        ),
        (
            {"traffic_fraction": 1.5},
            "experiments[0].traffic_fraction: must be a fraction in [0, 1], got 1.5",
        ),
        (
            {"traffic_fraction": -0.1},
            "experiments[0].traffic_fraction: must be a fraction in [0, 1]",
        ),
        ({"phase": 0}, "experiments[0].phase: must be >= 1, got 0"),
        (
            {"layer": {"layer": "l", "ranges": [[0, 20000]]}},
            "experiments[0].layer.ranges[0]: must satisfy 0 <= start < end <= 10000, got [0, 20000)",
        ),
        (
            {"layer": {"layer": "l", "ranges": [[0, 600], [500, 900]]}},
            "experiments[0].layer.ranges: ranges overlap: [0, 600) and [500, 900)",
        ),
        (
            {"layer": {"layer": "l", "ranges": [[50, 50]]}},
            "experiments[0].layer.ranges[0]: must satisfy 0 <= start < end",
        ),
        (
            {"schedule": {"start_at": "2026-02-01T00:00:00Z", "end_at": "2026-01-01T00:00:00Z"}},
            "experiments[0].schedule: start_at must be before end_at",
        ),
        (
            {"schedule": {"start_at": "2026-02-01T00:00:00"}},
            "experiments[0].schedule.start_at: must be timezone-aware",
        ),
        ({"overrides": {"qa": "nope"}}, "experiments[0].overrides['qa']: unknown variant 'nope'"),
        (
            {"variants": [TWO[0], {"key": "b", "weight": 0.5, "payload": "x" * 20000}]},
            "experiments[0].variants[1].payload: must encode to at most 16384 bytes",
        ),
        ({"colour": "blue"}, "experiments[0].colour: unknown field; expected one of ["),
        (
            {"traffic_fraction": "half"},
            "experiments[0].traffic_fraction: Expected `float`, got `str`",
        ),
        (
            {"status": "live"},
            "experiments[0].status: must be one of ['draft', 'scheduled', 'running', "
            "'paused', 'stopped', 'archived'], got 'live'",
        ),
        (
            {"variants": [TWO[0], {"key": "b", "weight": 0.5, "extra": 1}]},
            "experiments[0].variants[1].extra: unknown field; expected one of [",
        ),
    ],
)
def test_each_experiment_rule_reports_path_and_message(
    overrides: dict[str, Any], expected: str
) -> None:
    found = problems_of({"experiments": [experiment(**overrides)]})
    assert any(p.startswith(expected) for p in found), found


def test_all_problems_are_reported_at_once() -> None:
    found = problems_of(
        {
            "experiments": [
                experiment(
                    key="Bad",
                    traffic_fraction=3,
                    variants=[
                        TWO[0],
                        {"key": "b", "weight": -0.1},
                        {"key": "c", "weight": math.nan},
                    ],
                ),
                experiment(key="ok", phase=0),
            ]
        }
    )
    assert len(found) >= 5
    assert {p.split(":")[0] for p in found} >= {
        "experiments[0].key",
        "experiments[0].traffic_fraction",
        "experiments[0].variants[1].weight",
        "experiments[0].variants[2].weight",
        "experiments[1].phase",
    }


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"experiments": [experiment(layer={"layer": "nope", "ranges": [[0, 10]]})]},
            "experiments[0].layer.layer: unknown layer 'nope'",
        ),
        (
            {"experiments": [experiment(holdout="hh")]},
            "experiments[0].holdout: unknown holdout 'hh'",
        ),
        (
            {"experiments": [experiment(flag_key="ff")]},
            "experiments[0].flag_key: unknown flag 'ff'",
        ),
        (
            {"experiments": [experiment(metrics={"primary": ["m"]})]},
            "experiments[0].metrics.primary[0]: unknown metric 'm'",
        ),
        (
            {"experiments": [experiment(), experiment()]},
            "experiments[1].key: duplicate experiment key 'exp'",
        ),
        ({"widgets": []}, "widgets: unknown section"),
        ({"experiments": {"key": "x"}}, "experiments: must be a list, got dict"),
        ({"version": -1}, "version: must be an integer >= 0"),
        (
            {"metrics": [{"key": "m", "kind": "ratio"}]},
            "metrics[0].numerator_event: required for kind 'ratio'",
        ),
        (
            {"metrics": [{"key": "m", "kind": "binomial", "event": "e", "window_end_s": 0}]},
            "metrics[0].window_end_s: must be > window_start_s",
        ),
        (
            {"holdouts": [{"key": "h", "traffic_fraction": 2}]},
            "holdouts[0].traffic_fraction: must be a fraction",
        ),
        (
            {
                "flags": [
                    {
                        "key": "f",
                        "type": "bool",
                        "variations": {"on": "yes"},
                        "default_variation": "on",
                        "off_variation": "off",
                    }
                ]
            },
            "flags[0].variations['on']: must be a bool value, got 'yes'",
        ),
        (
            {
                "rollouts": [
                    {
                        "key": "r",
                        "flag_key": "f",
                        "variation": "on",
                        "steps": [{"traffic_fraction": 0.5}, {"traffic_fraction": 0.1}],
                    }
                ]
            },
            "rollouts[0].steps[1].traffic_fraction: steps must not decrease",
        ),
    ],
)
def test_bundle_rules(data: dict[str, Any], expected: str) -> None:
    found = problems_of(data)
    assert any(p.startswith(expected) for p in found), found


def test_constructing_an_invalid_experiment_raises() -> None:
    with pytest.raises(InvalidInput, match="weights must sum to 1"):
        Experiment(
            key="e",
            variants=[Variant(key="a", weight=0.9, is_control=True), Variant(key="b", weight=0.9)],
        )


def test_yaml_and_json_round_trip(tmp_path: Path) -> None:
    bundle = ConfigBundle.from_data({"experiments": [experiment()], "version": 3})
    for name in ("c.yaml", "c.json"):
        dump_bundle(bundle, tmp_path / name)
        assert load_bundle(tmp_path / name) == bundle


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("experiments: [ {key: a", "malformed YAML at line"),
        ("- just\n- a list\n", "must hold a mapping of sections, got list"),
        (
            "experiments:\n  - key: e\n    variants: 3\n",
            "experiments[0].variants: Expected `array`",
        ),
    ],
)
def test_malformed_files_give_clear_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InvalidInput) as info:
        load_bundle(path)
    assert expected in str(info.value)
    assert str(path) in str(info.value)


def test_cli_validate_prints_every_problem_and_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(
        "experiments:\n"
        + "\n".join(
            "  " + line
            for line in [
                "- key: e",
                "  variants:",
                "    - {key: control, weight: 0.5, is_control: true}",
                "    - {key: b, weight: 0.5}",
            ]
        )
        + "\n"
    )
    bad.write_text(
        "experiments:\n  - key: BAD\n    traffic_fraction: 2\n    variants:\n"
        "      - {key: control, weight: 0.5, is_control: true}\n"
        "      - {key: b, weight: -0.5}\n"
    )
    assert main(["validate", str(good)]) == 0
    assert "ok (1 experiment)\n" in capsys.readouterr().out
    assert main(["validate", str(good), str(bad), str(tmp_path / "missing.yaml")]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:experiments[0].key" in err
    assert f"{bad}:experiments[0].traffic_fraction" in err
    assert f"{bad}:experiments[0].variants[1].weight: must be >= 0, got -0.5" in err
    assert "cannot read config file" in err
    assert "Traceback" not in err
