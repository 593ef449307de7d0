"""``abwb apply`` / ``diff`` / ``export``: plan, round trip, refusals, audit, concurrency.

Runs on SQLite and on the real PostgreSQL (its own schema, dropped afterwards).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from abwb.changes import ConfigChanges
from abwb.cli import main
from abwb.config.io import parse_text
from abwb.errors import Conflict
from abwb.reconciliation import apply_plan, export_data, plan_changes
from abwb.settings import Settings
from abwb.snapshot.holder import ConfigSnapshotHolder
from abwb.store import open_stores

DEMO = Path(__file__).resolve().parents[3] / "abwb" / "demo" / "demo.yaml"
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)

CLASH = """\
experiments:
  - key: checkout-copy
    status: running
    flag_key: new-checkout
    surfaces: [checkout]
    layer: {layer: checkout-layer, ranges: [[5000, 7000]]}
    variants:
      - {key: control, weight: 0.5, is_control: true}
      - {key: shorter, weight: 0.5}
    metrics: {primary: [purchase]}
"""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def workspace(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """The environment of a fresh workspace; the CLI reads it from ABWB_* variables."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ABWB_HOME", str(tmp_path / ".abwb"))
    monkeypatch.delenv("ABWB_DATABASE_URL", raising=False)
    monkeypatch.delenv("ABWB_DATABASE_SCHEMA", raising=False)
    schema = None
    if request.param == "postgres":
        schema = f"t_apply_{uuid.uuid4().hex[:10]}"
        monkeypatch.setenv("ABWB_DATABASE_URL", request.getfixturevalue("pg_url"))
        monkeypatch.setenv("ABWB_DATABASE_SCHEMA", schema)
    yield Settings.from_env()
    if schema is not None:
        import psycopg

        with psycopg.connect(request.getfixturevalue("pg_url"), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def config_version(settings: Settings) -> int:
    stores = open_stores(settings)
    config = stores.config
    try:
        return config.config_version()
    finally:
        stores.close()


def test_plan_first_then_apply_export_round_trip(
    workspace: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["apply", str(DEMO)]) == 0  # no --yes and no terminal: plan only
    out = capsys.readouterr().out
    assert "  + create metric 'purchase'" in out
    assert "  + create experiment 'checkout-redesign'\n  > start experiment 'checkout-redesign'" in out
    assert "13 to create, 0 to change, 3 lifecycle actions, 0 unchanged" in out
    assert "plan only: nothing was written" in out
    assert config_version(workspace) == 0

    assert main(["apply", "--yes", str(DEMO), "--actor", "ci", "--reason", "seed"]) == 0
    assert "applied 16 changes as ci" in capsys.readouterr().out
    stores = open_stores(workspace)
    config = stores.config
    try:
        bundle = config.load_bundle()
        assert {e.key: e.status for e in bundle.experiments} == {
            "checkout-redesign": "running", "price-anchoring": "running",
            "search-ranking": "running"}
        audit = config.audit(limit=100)
        assert len(audit) == 16 and {a.actor for a in audit} == {"ci"}
        assert {a.reason for a in audit} == {"seed", "seed (start)"}
    finally:
        stores.close()

    assert main(["diff", str(DEMO)]) == 0
    assert "no changes" in capsys.readouterr().out
    exported = tmp_path / "workspace.yaml"
    assert main(["export", "-o", str(exported)]) == 0
    assert main(["diff", str(exported)]) == 0
    assert "0 to create, 0 to change, 0 lifecycle actions, 13 unchanged" in capsys.readouterr().out
    assert main(["apply", "--yes", str(exported)]) == 0
    assert config_version(workspace) == 16  # the round trip wrote nothing

    # Edit the export: one changed field, shown with before and after, then applied.
    text = exported.read_text().replace("traffic_fraction: 0.8", "traffic_fraction: 0.5")
    exported.write_text(text)
    assert main(["diff", str(exported)]) == 1
    out = capsys.readouterr().out
    assert "  ~ change experiment 'checkout-redesign' (version 2)\n" in out
    assert "      traffic_fraction: 0.8 → 0.5\n" in out
    assert main(["apply", "--yes", str(exported)]) == 0
    assert config_version(workspace) == 17
    # The same file again is stale for that object: refused with the versions named.
    capsys.readouterr()
    exported.write_text(text.replace("traffic_fraction: 0.5", "traffic_fraction: 0.6"))
    assert main(["apply", "--yes", str(exported)]) == 1
    out = capsys.readouterr().out
    assert ("experiment 'checkout-redesign': the file was written against version 2, "
            "the workspace has version 3") in out
    assert config_version(workspace) == 17


def test_export_json_matches_yaml(workspace: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["apply", "--yes", str(DEMO)]) == 0
    capsys.readouterr()
    assert main(["export"]) == 0
    as_yaml = yaml.safe_load(capsys.readouterr().out)
    assert main(["export", "--format", "json"]) == 0
    assert parse_text(capsys.readouterr().out) == as_yaml
    assert as_yaml["version"] == 16 and len(as_yaml["experiments"]) == 3


def test_conflicting_start_is_refused_with_reasons_and_nothing_written(
    workspace: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["apply", "--yes", str(DEMO)]) == 0
    clash = tmp_path / "clash.yaml"
    clash.write_text(CLASH + "  - key: typo\n    variants: [{key: c, weight: 0.5, is_control: true},"
                     " {key: t, weight: 0.5}]\n    metrics: {primary: [purchse]}\n")
    capsys.readouterr()
    assert main(["apply", "--yes", str(clash)]) == 1
    captured = capsys.readouterr()
    assert "refused; nothing was written" in captured.err
    out = captured.out
    assert ("! refused: experiment 'typo' metrics.primary[0]: unknown metric 'purchse'; "
            "did you mean 'purchase'?") in out
    assert "! refused: experiment 'checkout-copy' cannot start" in out
    assert "their ranges in layer 'checkout-layer' intersect at [5000, 6000)" in out
    assert config_version(workspace) == 16


def test_a_change_between_plan_and_apply_stops_the_apply(workspace: Settings) -> None:
    stores = open_stores(workspace)
    config = stores.config
    holder = ConfigSnapshotHolder()
    holder.start(config)
    changes = ConfigChanges(config, holder)
    try:
        files = [("demo.yaml", parse_text(DEMO.read_text()))]
        apply_plan(changes, plan_changes(config, files, now=NOW), actor="a", reason="r", now=NOW)
        data = export_data(config)
        purchase = next(m for m in data["metrics"] if m["key"] == "purchase")
        purchase["window_end_s"] = 3600.0
        plan = plan_changes(config, [("edit.yaml", data)], now=NOW)
        assert [(c.kind, c.key, c.action) for c in plan.changes] == [
            ("metric", "purchase", "update")]
        # Someone else changes the metric after the plan was made.
        changes.update("metric", "purchase", {"name": "Purchases"}, expected_version=1,
                       actor="other", reason="")
        with pytest.raises(Conflict) as info:
            apply_plan(changes, plan, actor="a", reason="r", now=NOW)
        assert "version 2, not 1" in str(info.value)
        assert config.get("metric", "purchase").window_end_s == 604800
    finally:
        stores.close()


def test_new_flag_and_experiment_that_name_each_other_apply(
    workspace: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "pair.yaml"
    path.write_text("""\
flags:
  - key: banner
    type: string
    variations: {plain: plain, bold: bold}
    default_variation: plain
    off_variation: plain
    rules: [{experiment: banner-test}]
experiments:
  - key: banner-test
    flag_key: banner
    status: running
    variants:
      - {key: plain, weight: 0.5, is_control: true}
      - {key: bold, weight: 0.5}
""")
    assert main(["apply", "--yes", str(path)]) == 0
    assert main(["diff", str(path)]) == 0
    stores = open_stores(workspace)
    config = stores.config
    try:
        assert config.get("flag", "banner").rules[0].experiment == "banner-test"
        assert config.get("experiment", "banner-test").status == "running"
    finally:
        stores.close()


def test_invalid_file_is_reported_with_file_and_path(
    workspace: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("metrics:\n  - {key: m, kind: binomal, event: e}\n")
    assert main(["diff", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:metrics[0].kind: must be one of" in err
    assert main(["apply", str(tmp_path / "missing.yaml"), str(path)]) == 1
    err = capsys.readouterr().err
    assert "missing.yaml: cannot read config file" in err and "Traceback" not in err
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    assert main(["diff", str(tmp_path / "list.yaml")]) == 1
    assert "must hold a mapping of sections, got list" in capsys.readouterr().err


def test_status_changes_go_through_lifecycle_actions(
    workspace: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["apply", "--yes", str(DEMO)]) == 0
    edited = DEMO.read_text().replace(
        "    guardrails: [checkout-error]\n", "    guardrails: [checkout-error]\n"
        "    status: active\n    started_at: 2026-01-01T00:00:00Z  # kept by the workspace\n", 1
    ).replace("    status: draft\n", "", 1).replace(
        "    off_variation: \"off\"\n  - key: express-pay", "    off_variation: \"off\"\n"
        "    killed: true\n  - key: express-pay", 1)
    path = tmp_path / "edited.yaml"
    path.write_text(edited)
    capsys.readouterr()
    assert main(["apply", "--yes", str(path)]) == 0
    out = capsys.readouterr().out
    assert "  > kill flag 'new-checkout'" in out
    assert "  > start rollout 'express-pay-ramp'" in out
    stores = open_stores(workspace)
    config = stores.config
    try:
        assert config.get("flag", "new-checkout").killed
        rollout = config.get("rollout", "express-pay-ramp")
        assert rollout.status == "active" and rollout.started_at is not None
        assert [a.reason for a in config.audit(key="express-pay-ramp", limit=1)] == [
            f"abwb apply {path} (start)"]
    finally:
        stores.close()
    # Back to draft is no lifecycle move: refused with the reason, nothing written.
    path.write_text(DEMO.read_text().replace("status: running", "status: draft", 1))
    assert main(["apply", "--yes", str(path)]) == 1
    out = capsys.readouterr().out
    assert "! refused: experiment 'checkout-redesign': no lifecycle path from 'running' to " \
           "'draft'" in out
    assert "! refused: rollout 'express-pay-ramp': cannot go from 'active' to 'draft'" in out
