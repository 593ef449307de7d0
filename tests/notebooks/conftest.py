from __future__ import annotations

from pathlib import Path

import pytest

from abwb.settings import Settings

from .workspace import build_workspace


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """One small SQLite workspace shared by the notebook tests (read-only)."""
    return build_workspace(Path(tmp_path_factory.mktemp("workspace")))
