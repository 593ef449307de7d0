"""``abwb keys create|list|revoke`` end to end on a tmp SQLite database, through the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from abwb.cli.main import main
from abwb.settings import ApiSettings, Settings
from api import create_app

from .conftest import TEST_HOST, assert_problem, bearer


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ABWB_HOME", str(tmp_path))
    monkeypatch.delenv("ABWB_DATABASE_URL", raising=False)
    monkeypatch.delenv("ABWB_REDIS_URL", raising=False)
    return tmp_path


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["keys", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_create_use_list_revoke(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(capsys, "create", "--name", "checkout-svc", "--scope", "assign")
    assert code == 0, err
    secret = out.strip()
    assert secret.startswith("abwb_") and len(secret) > 40
    assert "shown only now" in err
    code, out, _ = _cli(
        capsys, "create", "--name", "collector", "--scope", "ingest", "--scope", "read"
    )
    collector = out.strip()
    # the database holds hashes only
    raw = (home / "abwb.db").read_bytes()
    assert secret.encode() not in raw and collector.encode() not in raw

    def client() -> TestClient[Any]:
        app = create_app(Settings.from_env(), options=ApiSettings(allowed_hosts=(TEST_HOST,), snapshot_poll_s=0))
        return TestClient(app, raise_server_exceptions=False)

    with client() as c:
        assert (
            c.post("/v1/assign", json={"unit_id": "u"}, headers=bearer(secret)).status_code == 200
        )
        assert_problem(c.post("/v1/assign", json={"unit_id": "u"}), 401)
        assert_problem(c.post("/v1/events", json={"events": []}, headers=bearer(secret)), 403)
        assert (
            c.post("/v1/events", json={"events": []}, headers=bearer(collector)).status_code == 202
        )

    code, out, _ = _cli(capsys, "list")
    assert code == 0
    lines = out.strip().splitlines()
    assert [line.split("\t")[:2] for line in lines] == [
        ["checkout-svc", "assign"],
        ["collector", "ingest+read"],
    ]
    assert all("active" in line for line in lines)
    assert secret not in out and collector not in out

    code, out, _ = _cli(capsys, "revoke", "checkout-svc")
    assert code == 0 and "revoked 1" in out
    code, out, _ = _cli(capsys, "list", "--json")
    assert '"revoked_at": null' not in out.splitlines()[0]
    assert '"revoked_at": null' in out.splitlines()[1]

    with client() as c:  # a new process reads the revocation
        assert_problem(c.post("/v1/assign", json={"unit_id": "u"}, headers=bearer(secret)), 401)


def test_bad_input_is_a_clear_error(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, "create", "--name", "x", "--scope", "superuser")
    assert code == 1 and "scopes" in err and "superuser" in err
    code, _, err = _cli(capsys, "revoke", "nobody")
    assert code == 1 and "no active API key named 'nobody'" in err
    code, out, _ = _cli(capsys, "list")
    assert code == 0 and "no API keys" in out
    with pytest.raises(SystemExit):
        main(["keys", "create", "--scope", "read"])  # --name is required
