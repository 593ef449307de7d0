"""``validate`` reports the problems of every stage of a file in one run.

Stages that used to need one run each: YAML 1.1 booleans, unknown sections and fields,
type errors, enum values, the objects' own checks, and cross-object references.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from abwb.cli import main
from abwb.config import load_bundle, parse_text
from abwb.config.validation import did_you_mean
from abwb.errors import InvalidInput

EVERY_STAGE = """\
version: 1
segmentz: []
metrics:
  - key: purchase
    kind: binomal
    event: purchase
  - key: revenue
    kind: sum
    event: purchase
    window_start_s: -5
flags:
  - key: new-checkout
    type: bool
    variations: {on: true, off: false}
    default_variation: "off"
    off_variation: "off"
experiments:
  - key: Bad Key
    traffic_fraction: "lots"
    colour: blue
    variants:
      - {key: control, weight: 0.5, is_control: yes}
      - {key: b, weight: 0.5}
    metrics: {primary: [purchse], guardrails: [revenu]}
  - key: ok-one
    status: runing
    flag_key: new-checkout
    variants:
      - {key: control, weight: 0.5, is_control: true}
      - {key: b, weight: 0.6}
    layer: {layer: nope, ranges: [[0, 100]]}
"""

EXPECTED = [
    "segmentz: unknown section; did you mean 'segments'?",
    "experiments[0].colour: unknown field; expected one of [",
    "experiments[0].variants[0].is_control: must be true or false, got 'yes' "
    "(abwb reads YAML 1.2",
    "experiments[0].traffic_fraction: Expected `float`, got `str` ('lots')",
    "experiments[0].key: must be 1-64 chars",
    "experiments[0].metrics.primary[0]: unknown metric 'purchse'; did you mean 'purchase'?",
    "experiments[0].metrics.guardrails[0]: unknown metric 'revenu'; did you mean 'revenue'?",
    "experiments[1].status: must be one of ['draft', 'scheduled', 'running', 'paused', "
    "'stopped', 'archived'], got 'runing'; did you mean 'running'?",
    "experiments[1].variants: weights must sum to 1",
    "experiments[1].layer.layer: unknown layer 'nope'",
    "metrics[0].kind: must be one of ['binomial', 'count', 'sum', 'mean', 'ratio'], "
    "got 'binomal'; did you mean 'binomial'?",
    "metrics[1].value_column: required for kind 'sum'",
    "metrics[1].window_start_s: must be finite and >= 0, got -5.0",
]


def test_one_run_reports_problems_of_every_stage(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(EVERY_STAGE)
    with pytest.raises(InvalidInput) as info:
        load_bundle(path)
    found = [str(p).removeprefix(f"{path}:") for p in info.value.problems]
    missing = [e for e in EXPECTED if not any(f.startswith(e) for f in found)]
    assert not missing, found
    # YAML 1.2 booleans: the flag's `on`/`off` variations are strings, not a type error.
    assert not any(f.startswith("flags") for f in found), found
    # Nothing is reported twice.
    assert len(found) == len(set(found))


def test_cli_prints_every_problem_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(EVERY_STAGE)
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count(f"{path}:") == len(EXPECTED)
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: on", {"a": "on"}),
        ("a: off\nb: yes\nc: no\nd: NO", {"a": "off", "b": "yes", "c": "no", "d": "NO"}),
        ("a: true\nb: False\nc: TRUE", {"a": True, "b": False, "c": True}),
        ("{on: 1}", {"on": 1}),
    ],
)
def test_yaml_reads_only_true_and_false_as_booleans(text: str, expected: object) -> None:
    assert parse_text(text) == expected


def test_valid_references_to_an_invalid_object_are_not_reported_as_unknown() -> None:
    text = """
metrics:
  - {key: purchase, kind: binomial}
experiments:
  - key: e
    variants: [{key: c, weight: 0.5, is_control: true}, {key: t, weight: 0.5}]
    metrics: {primary: [purchase]}
"""
    with pytest.raises(InvalidInput) as info:
        from abwb.config import ConfigBundle

        ConfigBundle.from_data(parse_text(text))
    assert [str(p) for p in info.value.problems] == [
        "metrics[0].event: required for kind 'binomial'"
    ]


def test_did_you_mean_only_suggests_close_names() -> None:
    assert did_you_mean("revnue", ["revenue", "purchase"]) == "; did you mean 'revenue'?"
    assert did_you_mean("colour", ["holdout", "layer"]) == ""
