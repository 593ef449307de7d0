"""The type checker runs in strict mode (pyproject.toml ``[tool.mypy]``) over all of abwb and api."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_strict_passes_on_abwb_and_api() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "abwb", "api"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert proc.returncode == 0, (
        f"mypy abwb api exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
    )
