"""Static checks run with the tests: mypy strict over abwb and api, ruff over the tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.slow  # starts mypy and ruff


def test_mypy_strict_passes_on_abwb_and_api() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "abwb", "api"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert proc.returncode == 0, (
        f"mypy abwb api exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
    )


def test_ruff_lint_passes() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "abwb", "api", "tests", "benchmarks", "scripts"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, f"ruff check failed:\n{proc.stdout}{proc.stderr}"
