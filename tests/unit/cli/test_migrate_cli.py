"""``abwb migrate`` honours ABWB_DATABASE_SCHEMA (``--check`` included) on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from abwb.cli import main
from abwb.store.schema import LATEST_SCHEMA_VERSION


@pytest.fixture
def schema(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"t_migrate_{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("ABWB_DATABASE_URL", pg_url)
    monkeypatch.setenv("ABWB_DATABASE_SCHEMA", name)
    yield name
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.mark.integration
def test_migrate_and_check_use_the_configured_schema(
    schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "--check"]) == 1
    out = capsys.readouterr().out
    assert schema in out and f"{LATEST_SCHEMA_VERSION} migration(s) pending" in out
    assert main(["migrate"]) == 0
    assert schema in capsys.readouterr().out
    assert main(["migrate", "--check"]) == 0
    out = capsys.readouterr().out
    assert schema in out and "up to date" in out
