"""`abwb readout` end to end: artefacts, results.json equal to the library's numbers,
clear failures."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from abwb.metrics import statistics_from_store
from abwb.readout import build_readout, readout_to_dict
from abwb.readout.build import window_end
from abwb.settings import Settings
from abwb.store import open_stores

from .workspace import AS_OF, KEY

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("jupyter")]  # starts Jupyter kernels


def _cli(settings: Settings, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"ABWB_DATABASE_URL": settings.database.url or "",
           "ABWB_REPORTS_DIR": str(settings.analysis.reports_dir),
           "PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.run([sys.executable, "-m", "abwb.cli.main", "readout", *args],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=180)


def test_readout_writes_report_and_results_matching_library(workspace: Settings,
                                                            tmp_path: Path) -> None:
    proc = _cli(workspace, KEY, "--as-of", AS_OF.isoformat(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    directory = workspace.analysis.reports_dir / KEY / AS_OF.isoformat()
    html = (directory / "readout.html").read_text()
    assert "Ship one-page" in html and "Traceback" not in html
    assert "abwb.readout.build_readout(" not in html  # input cells hidden
    assert (directory / "readout.ipynb").exists()
    written = json.loads((directory / "results.json").read_text())
    opened = open_stores(workspace)
    stores = (opened.config, opened.events)
    try:
        expected = readout_to_dict(build_readout(stores, KEY, as_of=AS_OF))
        experiment = stores[0].get("experiment", KEY)
        library = statistics_from_store(stores[1], experiment.metrics.all_keys(),
                                        experiment=experiment,
                                        catalog=stores[0].load_bundle().metrics,
                                        as_of=window_end(AS_OF))
    finally:
        opened.close()
    assert written["decision"] == expected["decision"]
    assert written["quality"] == expected["quality"]
    assert len(written["results"]) == len(expected["results"]) == 3
    for got, want in zip(written["results"], expected["results"], strict=True):
        for key, value in want.items():
            if isinstance(value, float):
                # DuckDB sums in parallel: the last bits may differ between two runs.
                assert math.isclose(got[key], value, rel_tol=1e-9, abs_tol=1e-12), key
            else:
                assert got[key] == value, key
    assert written["facts"]["units"] == sum(library.quality.units_per_variant.values())
    assert written["quality"]["srm_p_value"] == library.quality.srm.p_value  # type: ignore[union-attr]
    for row in written["results"]:  # the numbers are abwb.metrics' statistics
        stats = library[row["metric"]]
        assert row["n_control"] == stats[row["control"]].n
        assert row["n_treatment"] == stats[row["variant"]].n
        assert math.isclose(row["mean_treatment"], stats[row["variant"]].mean, rel_tol=1e-9)
    assert "report:" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no-such-experiment", "--as-of", "2026-05-10"], "no experiment 'no-such-experiment'"),
        ([KEY, "--as-of", "10/05/2026"], "as_of: must be an ISO date"),
        ([KEY, "--alpha", "2"], "alpha: must be a number in (0, 1)"),
        ([KEY, "--metrics", "nope"], "unknown metric(s) ['nope']"),
    ],
)
def test_failing_readout_exits_non_zero_with_clear_message(
    workspace: Settings, tmp_path: Path, args: list[str], message: str
) -> None:
    proc = _cli(workspace, *args, cwd=tmp_path)
    assert proc.returncode == 1
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_failing_notebook_cell_is_named_and_notebook_kept(workspace: Settings,
                                                          tmp_path: Path) -> None:
    import nbformat

    from abwb.readout.runner import NotebookFailed, notebook_path, run_readout

    nb = nbformat.read(str(notebook_path()), as_version=4)
    nb.cells.insert(4, nbformat.v4.new_code_cell("raise RuntimeError('plot backend exploded')"))
    broken = tmp_path / "broken.ipynb"
    nbformat.write(nb, str(broken))
    with pytest.raises(NotebookFailed) as info:
        run_readout(KEY, settings=workspace, today=AS_OF, as_of=AS_OF, notebook=broken)
    err = info.value
    kept = nbformat.read(str(err.notebook), as_version=4)
    assert kept.cells[err.cell_index].source.startswith("raise RuntimeError")
    assert "raise RuntimeError" in err.first_line
    assert "plot backend exploded" in err.error
    assert err.notebook.exists()
