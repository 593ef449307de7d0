"""``abwb readout``: the demo's workspace with no settings, --all-running, refused inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from abwb.cli import main, readout
from abwb.settings import Settings


@pytest.fixture
def no_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh directory and no ABWB_* variable: everything on the defaults."""
    monkeypatch.chdir(tmp_path)
    for name in ("ABWB_HOME", "ABWB_DATABASE_URL", "ABWB_DATABASE_SCHEMA", "ABWB_REPORTS_DIR",
                 "ABWB_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.mark.slow
def test_demo_then_readout_all_running_with_no_settings(
    no_settings: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--users", "2000", "--no-notebook"]) == 0
    out = capsys.readouterr().out
    assert f"uses: {no_settings / '.abwb' / 'abwb.db'}" in out.replace("\n", "")
    assert "./run abwb readout checkout-redesign --as-of" in out
    # Paging through the running experiments: 3 of them, 2 per page.
    monkeypatch.setattr(readout, "PAGE", 2)
    assert main(["readout", "--all-running"]) == 0
    out = capsys.readouterr().out
    assert "3 of 3 running experiments read out" in out
    for key in ("checkout-redesign", "price-anchoring", "search-ranking"):
        assert f"{key}: ok" in out
        (notebook,) = (no_settings / "reports" / key).glob("*/readout.ipynb")
        # The executed notebook names the workspace by absolute path: it re-runs anywhere.
        assert f"sqlite:///{no_settings / '.abwb' / 'abwb.db'}" in notebook.read_text()
    # Before the first exposure: refused, naming the day the experiment started.
    assert main(["readout", "checkout-redesign", "--as-of", "2001-01-01"]) == 1
    assert "before experiment 'checkout-redesign' started (first exposure" in (
        capsys.readouterr().err)


def test_readout_refuses_a_future_day(no_settings: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date()
    assert main(["readout", "checkout-redesign", "--as-of", str(tomorrow)]) == 1
    err = capsys.readouterr().err
    assert f"--as-of: {tomorrow} is in the future" in err


def test_readout_refuses_an_unknown_notebook_parameter(
    no_settings: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["readout", "checkout-redesign", "-p", "segmens", "[]"]) == 1
    assert "-p segmens: unknown notebook parameter; did you mean 'segments'?" in (
        capsys.readouterr().err)
    assert main(["readout", "checkout-redesign", "-p", "database_schema", "x"]) == 1
    assert "set by the command itself" in capsys.readouterr().err


def test_absolute_settings_make_the_sqlite_url_absolute(no_settings: Path) -> None:
    s = readout.absolute_settings(Settings.from_env({"ABWB_DATABASE_URL": "sqlite:///x/y.db"}))
    assert s.database.effective_url == f"sqlite:///{no_settings / 'x' / 'y.db'}"
    s = readout.absolute_settings(Settings.from_env({}))
    assert s.database.effective_url == f"sqlite:///{no_settings / '.abwb' / 'abwb.db'}"
    pg = "postgresql://u@h/db"
    assert readout.absolute_settings(
        Settings.from_env({"ABWB_DATABASE_URL": pg})).database.effective_url == pg
