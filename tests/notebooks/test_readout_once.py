"""The readout is computed once: ``results.json`` and the HTML report carry the same numbers.

``abwb readout`` builds the readout in-process, writes ``results.json`` from it and saves
it; the notebook loads that saved readout instead of computing a second one. The first
test runs the whole command and reads every result row's numbers, as formatted for
people, out of the HTML; the second proves the notebook presents a saved readout as is by
pointing it at a database that does not hold the experiment at all.
"""

from __future__ import annotations

import html as html_module
import json
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import nbformat
import polars as pl
import pytest

from abwb.config import Experiment, ExperimentMetrics, MetricDefinition, Variant
from abwb.errors import InvalidInput
from abwb.metrics import UNIT_DAYS_SCHEMA
from abwb.readout import (
    MetricData,
    QualityCheck,
    ReadoutQuality,
    assemble_readout,
    format_percent,
    load_readout,
    save_readout,
)
from abwb.readout.formatting import format_p_value
from abwb.readout.runner import execute_notebook
from abwb.settings import Settings
from abwb.stats.summary import MeanStats

from .workspace import AS_OF, KEY

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "readout.ipynb"

pytestmark = pytest.mark.slow  # papermill starts a kernel


def _html_text(path: Path) -> str:
    return html_module.unescape(path.read_text(encoding="utf-8"))


def _none_pct(value: float | None) -> str:
    return format_percent(float("nan") if value is None else value)


@pytest.mark.parametrize("engine", ["frequentist", "sequential"])
def test_results_json_and_html_carry_identical_numbers(workspace: Settings, tmp_path: Path,
                                                       engine: str) -> None:
    env = {"ABWB_DATABASE_URL": workspace.database.url or "",
           "ABWB_REPORTS_DIR": str(tmp_path / "reports"),
           "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "abwb.cli.main", "readout", KEY, "--as-of", AS_OF.isoformat(),
         "--engine", engine],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    directory = tmp_path / "reports" / KEY / AS_OF.isoformat()
    written = json.loads((directory / "results.json").read_text())
    page = _html_text(directory / "readout.html")
    assert written["decision"]["headline"] in page
    assert written["decision"]["rule"] in page
    assert written["results"], "no result rows"
    for row in written["results"]:
        interval = f"[{_none_pct(row['ci_low_rel'])}, {_none_pct(row['ci_high_rel'])}]"
        assert interval in page, (row["metric"], interval)
        assert _none_pct(row["effect_rel"]) in page
        if row["role"] != "guardrail":
            p = row["p_value_adjusted"]
            text = format_p_value(float("nan") if p is None else p).removeprefix("p = ")
            assert f">{text}<" in page, (row["metric"], text)
            assert f"{row['n_control']:,} / {row['n_treatment']:,}" in page
    # The notebook loaded the saved readout: the same object results.json was made from.
    saved = load_readout(directory / "readout.pkl")
    assert saved.decision.headline == written["decision"]["headline"]
    executed = nbformat.read(str(directory / "readout.ipynb"), as_version=4)
    injected = next(c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert "readout_path" in injected.source


def _saved_readout(tmp_path: Path) -> Path:
    experiment = Experiment(
        key="only-in-the-saved-readout", status="running",
        variants=[Variant(key="control", weight=0.5, is_control=True),
                  Variant(key="b", weight=0.5)],
        metrics=ExperimentMetrics(primary=["conv"]),
    )
    conv = MetricDefinition(key="conv", kind="binomial", event="buy", name="Conversion")
    metrics = [MetricData(conv, "primary", {"control": MeanStats.from_counts(1000, 10_000),
                                            "b": MeanStats.from_counts(1170, 10_000)})]
    at = datetime(2026, 5, 1, tzinfo=UTC)
    units = pl.DataFrame({"date": [at.date()] * 2, "variant": ["control", "b"], "units": [1, 1],
                          "first_exposed_at": [at] * 2, "last_exposed_at": [at] * 2},
                         schema=UNIT_DAYS_SCHEMA)
    quality = ReadoutQuality((QualityCheck("sample ratio", True, "as configured"),),
                             pl.DataFrame(), 0.5)
    readout = assemble_readout(experiment, metrics, quality, units=units,
                               as_of=date(2026, 5, 7))
    return save_readout(readout, tmp_path / "readout.pkl")


def test_the_notebook_presents_the_saved_readout_without_recomputing(tmp_path: Path) -> None:
    saved = _saved_readout(tmp_path)
    readout = load_readout(saved)
    out = tmp_path / "executed.ipynb"
    execute_notebook(
        NOTEBOOK, out, cwd=tmp_path,
        parameters={"experiment_key": readout.facts.key, "readout_path": str(saved),
                    # An empty database: building here would fail with "no experiment".
                    "database_url": f"sqlite:///{tmp_path / 'empty.db'}"},
    )
    nb = nbformat.read(str(out), as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    page = html_module.unescape("".join(o.get("data", {}).get("text/html", "")
                                        for o in outputs))
    assert readout.decision.action == "ship" and readout.headline in page
    row = readout.results.row(0, named=True)
    assert f"[{format_percent(row['ci_low_rel'])}, {format_percent(row['ci_high_rel'])}]" in page
    assert not (tmp_path / "empty.db").exists()  # the notebook never opened a database


def test_load_readout_names_the_parameter(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="readout_path: no saved readout"):
        load_readout(tmp_path / "missing.pkl")
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(InvalidInput, match=r"readout_path: .* is not a saved readout"):
        load_readout(tmp_path / "junk.pkl")
