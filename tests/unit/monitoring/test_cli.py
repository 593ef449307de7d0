"""``abwb monitor`` on the embedded SQLite store: one pass, the alert list, and the loop's clean shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from abwb.cli.main import main
from abwb.config import Experiment, Variant
from abwb.config.experiment import ExperimentMetrics
from abwb.config.metric import MetricDefinition
from abwb.events.models import Event, Exposure
from abwb.settings import DatabaseSettings, Settings
from abwb.store import open_stores

ROOT = Path(__file__).resolve().parents[3]


def _seed(home: Path, stream: Callable[..., tuple[pl.DataFrame, pl.DataFrame]]) -> None:
    opened = open_stores(Settings(database=DatabaseSettings(home=home)))
    config, events = opened.config, opened.events
    opened.alerts.close()
    config.create("metric", MetricDefinition(key="conv", kind="binomial", event="buy"), actor="me")
    config.create("experiment", Experiment(key="exp", status="running",
                                           variants=[Variant("c", 0.5, True), Variant("t", 0.5)],
                                           metrics=ExperimentMetrics(guardrails=["conv"])), actor="me")
    rng = np.random.default_rng(0)
    now = datetime.now(UTC) - timedelta(hours=1)
    for minute in range(5):
        exp, ev = stream(rng, experiment="exp", minute=minute, units=400, variants=["c", "t"],
                         shares=[0.6, 0.4], conversion={"c": 0.2, "t": 0.2})
        shift = now - datetime(2026, 6, 1, tzinfo=UTC)
        events.append_exposures([Exposure(**{**r, "exposed_at": r["exposed_at"] + shift})
                                 for r in exp.iter_rows(named=True)])
        events.append_events([Event(**{**r, "occurred_at": r["occurred_at"] + shift})
                              for r in ev.iter_rows(named=True)])
    config.close()
    events.close()


def test_one_pass_stores_alerts_that_list_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str],
                                                stream: Callable[..., tuple[pl.DataFrame, pl.DataFrame]]) -> None:
    home = tmp_path / ".abwb"
    _seed(home, stream)
    monkeypatch.setenv("ABWB_HOME", str(home))
    monkeypatch.delenv("ABWB_DATABASE_URL", raising=False)
    monkeypatch.delenv("ABWB_REDIS_URL", raising=False)
    assert main(["monitor"]) == 0
    assert "monitored 1 subject(s): 2000 exposures" in capsys.readouterr().out
    assert main(["monitor", "--list", "--json", "--status", "open"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["kind"] for r in rows] == ["srm"] and rows[0]["experiment"] == "exp"
    # A second pass does not open it again.
    assert main(["monitor"]) == 0
    assert "0 alert(s) opened" in capsys.readouterr().out


def test_bad_options_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["monitor", "--lateness", "a while"]) == 1
    assert "--lateness: expected a duration" in capsys.readouterr().err


@pytest.mark.slow  # starts a process
def test_loop_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "ABWB_HOME": str(tmp_path / ".abwb")}
    env.pop("ABWB_DATABASE_URL", None)
    env.pop("ABWB_REDIS_URL", None)
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from abwb.cli.main import main; sys.exit(main())",
                             "monitor", "--every", "200ms"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        assert proc.stderr is not None
        while time.monotonic() < deadline:  # wait for the first pass: handlers are installed
            line = proc.stderr.readline()
            if "monitored 0 subject(s)" in line:
                break
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "monitor stopped after" in out and "received signal" in err
