"""`abwb serve`: the app it builds for --demo / --config / the configured stores."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from litestar.testing import TestClient

from abwb.cli.main import build_parser
from abwb.cli.serve import build_app
from abwb.errors import InvalidInput
from abwb.settings import ApiSettings, DatabaseSettings, Settings

from .conftest import TEST_HOST

LOCAL = ApiSettings(allowed_hosts=(TEST_HOST,))


def args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["serve", *argv])


def test_serve_demo_assigns_the_demo_experiments(tmp_path: Path) -> None:
    app = build_app(args("--demo"), Settings(database=DatabaseSettings(home=tmp_path), api=LOCAL))
    with TestClient(app) as client:
        body = client.post("/v1/assign", json={"unit_id": "qa-alice"}).json()
        by_exp = {d["experiment"]: d for d in body["assignments"]}
        assert by_exp["checkout-redesign"]["reason"] == "override"
        assert by_exp["checkout-redesign"]["variant"] == "one-page-express"


def test_serve_config_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("experiments:\n  - key: Bad Key\n")
    with pytest.raises(InvalidInput) as info:
        build_app(args("--config", str(bad)), Settings())
    assert "bad.yaml" in str(info.value)


def test_serve_defaults_to_the_embedded_store(tmp_path: Path) -> None:
    app = build_app(args(), Settings(database=DatabaseSettings(home=tmp_path), api=LOCAL))
    with TestClient(app) as client:
        health = client.get("/v1/health").json()
        assert health["store"]["kind"] == "SqliteConfigStore"
    assert (tmp_path / "abwb.db").exists()


def test_serve_rejects_demo_and_config_together() -> None:
    with pytest.raises(SystemExit):
        args("--demo", "--config", "x.yaml")
