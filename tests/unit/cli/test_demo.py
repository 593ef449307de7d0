"""``abwb demo`` end to end on a temporary ABWB_HOME: every chapter really happens."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from abwb.cli import main
from abwb.config import Segment
from abwb.demo import story
from abwb.demo.traffic import demo_population
from abwb.demo.workspace import open_workspace
from abwb.errors import InvalidInput
from abwb.settings import AnalysisSettings, DatabaseSettings, Settings
from abwb.store import open_stores

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def settings(tmp_path: Path) -> Settings:
    return Settings(database=DatabaseSettings(home=tmp_path / ".abwb"),
                    analysis=AnalysisSettings(reports_dir=tmp_path / "reports"))


def test_story_steps_persist_refuse_measure_kill_roll_back(tmp_path: Path) -> None:
    ws = open_workspace(settings(tmp_path))
    try:
        setup = story.persist_config(ws)
        assert setup.audit_entries == setup.config_version == sum(setup.objects.values())
        assert str(tmp_path / ".abwb" / "abwb.db") in setup.backend

        conflict = story.refuse_conflict(ws)
        assert "checkout-redesign" in conflict.message and conflict.status_after == "draft"
        assert any("layer 'checkout-layer'" in r for r in conflict.reasons)

        population = demo_population(20_000)
        assignment = story.assign_sample_users(ws, population, now=NOW)
        by_unit = {u: d for u, _, d in assignment.sample}
        assert by_unit["qa-alice"]["checkout-redesign"] == ("one-page-express", "override")
        assert by_unit["staff-bob"]["checkout-redesign"] == (None, "targeting_miss")

        traffic = story.simulate_traffic(ws, population, now=NOW)
        stored = ws.events.read_exposures(experiment=story.EXPERIMENT)
        assert traffic.exposures_stored == stored.height == traffic.exposed > 1_000
        assert traffic.events_stored == ws.events.read_events().height
        quality = traffic.statistics.quality
        assert quality.audit.status == "ok" and quality.audit.mismatches == 0
        assert quality.audit.audited_units == traffic.exposed and quality.srm is not None
        assert sum(s.n for s in traffic.statistics["purchase"].values()) == traffic.exposed

        analysis = story.analyse_experiment(traffic.statistics, ws.config.load_bundle())
        methods = {r.method for r in analysis.frequentist}
        assert {"two_proportion_z", "cuped_welch_t", "welch_t"} <= methods
        assert {r.method for r in analysis.sequential} <= {"asymptotic_cs", "asymptotic_cs_cuped", "asymptotic_cs_ratio"}
        assert analysis.frequentist.get("revenue", "one-page").variance_reduction > 0.05
        assert {d.treatment for d in analysis.decisions} == {"one-page", "one-page-express"}
        assert all(0 <= b.chance_to_beat_control <= 1 for _, _, b in analysis.bayesian)

        flags = story.ramp_and_kill(ws, now=NOW)
        assert [round(r[2], 2) for r in flags.ramp] == [0.01, 0.05, 0.25, 0.5, 1.0]
        shares = [r[4] for r in flags.ramp]
        assert shares == sorted(shares) and shares[-1] == 1.0
        assert flags.killed_value == (False, "DISABLED") and flags.kill_to_served_ms < 5_000
        assert ws.config.get("flag", "express-pay").killed is False  # revived after the drill

        monitor = story.monitor_rollout(ws, now=NOW)
        assert monitor.alert is not None and monitor.alert.kind == "guardrail"
        assert monitor.alert.action == "rolled_back" and monitor.rollout_status == "rolled_back"
        assert monitor.audit is not None and monitor.audit.startswith("abwb-monitor")
    finally:
        ws.close()


def test_demo_cli_end_to_end_and_rerun_resets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ABWB_DATABASE_URL", raising=False)
    monkeypatch.delenv("ABWB_REDIS_URL", raising=False)
    monkeypatch.setenv("ABWB_HOME", str(tmp_path / ".abwb"))
    monkeypatch.setenv("ABWB_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("COLUMNS", "400")  # no wrapping inside the phrases asserted below
    assert main(["demo", "--users", "20000"]) == 0
    out = capsys.readouterr().out
    for expected in ("refused", "Measured split", "0 mismatches", "DISABLED", "rolled_back",
                     "readout.html", "Summary"):
        assert expected in out
    (html,) = (tmp_path / "reports" / "checkout-redesign").glob("*/readout.html")
    results = json.loads((html.parent / "results.json").read_text())
    assert isinstance(results, dict) and results
    first = _exposures(tmp_path)
    assert main(["demo", "--users", "20000", "--no-notebook"]) == 0
    assert _exposures(tmp_path) == first  # reset, not appended
    # The demo's data is the default workspace: what every other command reads.
    assert "the demo's data is the workspace every command uses" in capsys.readouterr().out


def _exposures(tmp_path: Path) -> int:
    opened = open_stores(Settings(database=DatabaseSettings(home=tmp_path / ".abwb",
                                                                   url=f"sqlite:///{tmp_path}/.abwb/abwb.db")))
    try:
        return opened.events.read_exposures(experiment=story.EXPERIMENT).height
    finally:
        opened.close()


def test_demo_refuses_too_few_users_with_the_option_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--users", "10"]) == 1
    assert "--users" in capsys.readouterr().err


def test_reset_refuses_the_public_schema(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="schema"):
        open_workspace(settings(tmp_path), schema="public")


def test_unknown_command_exits_with_usage() -> None:
    with pytest.raises(SystemExit) as info:
        main(["no-such-command"])
    assert info.value.code == 2


def test_readout_step_writes_results_without_notebook(tmp_path: Path) -> None:
    ws = open_workspace(settings(tmp_path))
    try:
        story.persist_config(ws)
        story.simulate_traffic(ws, demo_population(5_000), now=NOW)
        r = story.run_readout_step(ws, as_of=(NOW - timedelta(days=1)).date(), notebook=False)
        assert r.html is None and json.loads(Path(r.results).read_text())
        assert r.headline
    finally:
        ws.close()


def test_demo_refuses_to_reset_a_workspace_it_did_not_create(tmp_path: Path) -> None:
    from abwb.demo.workspace import DEMO_MARKER, reset_workspace
    from abwb.errors import StorageError

    s = settings(tmp_path)
    stores = open_stores(s)  # somebody's own workspace, at the default place
    config = stores.config
    try:
        config.create("segment", Segment(key="mine", condition={"attr": "a", "op": "eq",
                                                                 "value": 1}), actor="me")
    finally:
        stores.close()
    with pytest.raises(StorageError, match="holds a workspace the demo did not create"):
        open_workspace(s)
    assert (tmp_path / ".abwb" / "abwb.db").exists()
    # An empty file, or one the demo created itself, is reset.
    (tmp_path / ".abwb" / DEMO_MARKER).write_text("")
    reset_workspace(s)
    assert not (tmp_path / ".abwb" / "abwb.db").exists()
