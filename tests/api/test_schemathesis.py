"""The schemathesis suite (``schemathesis_cases.py``) run in a process of its own, without xdist.

Schemathesis reports each API operation as a sub-test of one pytest item, and under
pytest-xdist those sub-tests share one node id: the workers schedule it once and its
sub-test failures never reach the controller ("1 passed" with a failing check planted —
the suite could not fail in a parallel run). So the suite runs here in one plain pytest
process, and this test requires every operation of the served document to have passed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .schemathesis_cases import schema

pytestmark = pytest.mark.slow

SUITE = Path(__file__).with_name("schemathesis_cases.py")
ROOT = Path(__file__).resolve().parents[2]


def test_every_operation_passes_every_schemathesis_check(tmp_path: Path) -> None:
    operations = sum(1 for result in schema.get_all_operations() if result.ok())
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(SUITE), "-p", "no:xdist", "-p", "no:cacheprovider",
         "-o", "addopts=", "--import-mode=importlib", "-q", "--no-header",
         "--rootdir", str(ROOT), "--basetemp", str(tmp_path / "run")],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= operations, summary
    assert "failed" not in summary and "error" not in summary, summary
