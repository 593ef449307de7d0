"""nbval (lax) executes every committed notebook against a small fixture database.

The notebooks' parameters point at ``ABWB_DATABASE_URL`` when ``database_url`` is
None, so the fixture workspace is handed to them through the environment — the same
way a data scientist's JupyterLab session finds its database.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from abwb.readout.runner import ensure_kernel
from abwb.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("jupyter")]  # starts Jupyter kernels


def test_every_notebook_runs_under_nbval_lax(workspace: Settings, tmp_path: Path) -> None:
    kernel = ensure_kernel()
    env = {
        **os.environ,
        "ABWB_DATABASE_URL": workspace.database.effective_url,
        "ABWB_HOME": str(workspace.database.home),
        "ABWB_REPORTS_DIR": str(tmp_path / "reports"),
        "MPLBACKEND": "Agg",
    }
    notebooks = sorted(str(p) for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert len(notebooks) == 3
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", f"--nbval-kernel-name={kernel}",
         "-p", "no:cacheprovider", "-q", "--no-header", "-o", "addopts=", "--rootdir", str(tmp_path),
         *notebooks],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    passed = int(proc.stdout.strip().splitlines()[-1].split(" passed")[0].split()[-1])
    assert passed >= 25 and "failed" not in proc.stdout  # every code cell of the 3 notebooks
