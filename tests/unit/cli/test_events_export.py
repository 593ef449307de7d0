"""``abwb events export --format parquet DIR``: the store's rows, in the contract schema."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from abwb.cli.main import main
from abwb.config import Experiment, Variant
from abwb.events import EVENT_SCHEMA, EXPOSURE_SCHEMA
from abwb.settings import Settings
from abwb.simulate import ConversionStream, SimulationConfig, append_to_store, simulate
from abwb.store import open_stores


def _experiment(key: str) -> Experiment:
    return Experiment(key=key, status="running", variants=[
        Variant("control", 0.5, is_control=True), Variant("b", 0.5)])


def test_export_writes_the_stores_rows_in_the_contract_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ABWB_DATABASE_URL", raising=False)
    monkeypatch.setenv("ABWB_HOME", str(tmp_path / "home"))
    stores = open_stores(Settings.from_env())
    try:
        for key, seed in (("one", 1), ("two", 2)):
            sim = simulate(_experiment(key), SimulationConfig(
                users=300, start_at=datetime(2026, 3, 1, tzinfo=UTC), seed=seed,
                streams=(ConversionStream("buy", rate=0.3),)))
            append_to_store(sim, stores.events)
        want_exposures = stores.events.read_exposures()
        want_events = stores.events.read_events()
    finally:
        stores.close()
    out = tmp_path / "out"
    assert main(["events", "export", "--format", "parquet", str(out)]) == 0
    exposures = pl.read_parquet(out / "exposures.parquet")
    events = pl.read_parquet(out / "events.parquet")
    assert exposures.schema == EXPOSURE_SCHEMA and events.schema == EVENT_SCHEMA
    assert exposures.equals(want_exposures) and events.equals(want_events)
    assert set(exposures["experiment"]) == {"one", "two"} and events.height > 0
    printed = capsys.readouterr().out
    assert f"exposures=parquet.`{(out / 'exposures.parquet').resolve()}`" in printed

    assert main(["events", "export", str(out), "--experiment", "two"]) == 0
    only = pl.read_parquet(out / "exposures.parquet")
    assert set(only["experiment"]) == {"two"}
    assert only.height == want_exposures.filter(pl.col("experiment") == "two").height


def test_export_refuses_a_file_as_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ABWB_DATABASE_URL", raising=False)
    monkeypatch.setenv("ABWB_HOME", str(tmp_path / "home"))
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["events", "export", str(target)]) == 1
    assert "DIR: " in capsys.readouterr().err and target.read_text() == "x"
