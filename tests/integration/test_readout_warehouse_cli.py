"""``abwb readout KEY`` from the command line on one workspace (the demo's, in PostgreSQL):
embedded, ``--warehouse postgresql://…`` (the event store's own schema, no table option) and
``--warehouse local[2]`` over ``abwb events export --format parquet`` give the same
results.json, and a missing warehouse table is named, not a Java stack trace."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from abwb.cli.main import main
from abwb.readout import load_or_build_readout, write_results
from tests.integration.test_readout_warehouse import assert_same_report

KEY = "checkout-redesign"

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@dataclass(frozen=True)
class Workspace:
    """The demo workspace in a PostgreSQL schema and the environment that selects it."""

    env: dict[str, str]
    pg_url: str
    reports: Path
    exported: Path


@pytest.fixture(scope="module")
def workspace(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    home = tmp_path_factory.mktemp("wh_cli")
    schema = f"t_whcli_{uuid.uuid4().hex[:8]}"
    env = {"ABWB_DATABASE_URL": pg_url, "ABWB_DATABASE_SCHEMA": schema,
           "ABWB_HOME": str(home / ".abwb"), "ABWB_REPORTS_DIR": str(home / "reports")}
    with pytest.MonkeyPatch.context() as mp:
        for name in ("ABWB_REDIS_URL", "ABWB_WAREHOUSE_URL", "ABWB_WAREHOUSE_TABLES"):
            mp.delenv(name, raising=False)
        for name, value in env.items():
            mp.setenv(name, value)
        mp.chdir(home)
        try:
            assert main(["demo", "--users", "3000", "--no-notebook"]) == 0
            assert main(["events", "export", "--format", "parquet", str(home / "data")]) == 0
            yield Workspace(env, pg_url, home / "reports", home / "data")
        finally:
            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _readout(ws: Workspace, *options: str) -> tuple[int, str]:
    """Run ``abwb readout KEY *options``; exit code and the results.json text."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in ws.env.items():
            mp.setenv(name, value)
        code = main(["readout", KEY, *options])
    if code != 0:
        return code, ""
    [results] = sorted(ws.reports.glob(f"{KEY}/*/results.json"))
    html = results.with_name("readout.html")
    assert html.stat().st_size > 10_000 and html.stat().st_mtime >= results.stat().st_mtime
    text = results.read_text(encoding="utf-8")
    results.unlink()  # the next run writes its own
    return 0, text


@pytest.fixture(scope="module")
def embedded(workspace: Workspace) -> str:
    code, text = _readout(workspace)
    assert code == 0
    return text


def test_postgres_url_reads_the_event_stores_own_schema(
    workspace: Workspace, embedded: str
) -> None:
    # No table option: the tables are the event store's, in ABWB_DATABASE_SCHEMA (not the
    # connection's search_path, which is public and has no exposures table here).
    code, text = _readout(workspace, "--warehouse", workspace.pg_url)
    assert code == 0
    assert_same_report(text, embedded)
    facts = json.loads(text)["facts"]
    assert facts["key"] == KEY and sum(v["units"] for v in facts["variants"]) > 100
    # A notebook run by hand resolves the same tables (database_schema, no table option).
    by_hand = load_or_build_readout(
        None, experiment_key=KEY, database_url=workspace.pg_url,
        database_schema=workspace.env["ABWB_DATABASE_SCHEMA"], warehouse_url=workspace.pg_url)
    written = write_results(by_hand, workspace.reports / "by_hand.json")
    assert_same_report(written.read_text(encoding="utf-8"), embedded)


@pytest.mark.spark
def test_spark_reads_the_exported_parquet_files(workspace: Workspace, embedded: str) -> None:
    data = workspace.exported
    tables = (f"exposures=parquet.`{data / 'exposures.parquet'}`,"
              f"events=parquet.`{data / 'events.parquet'}`")
    code, text = _readout(workspace, "--warehouse", "local[2]", "--warehouse-tables", tables)
    assert code == 0
    assert_same_report(text, embedded)


@pytest.mark.spark
def test_a_missing_spark_table_is_named(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = workspace.exported / "nowhere"
    tables = (f"exposures=parquet.`{workspace.exported / 'exposures.parquet'}`,"
              f"events=parquet.`{missing}`")
    code, _ = _readout(workspace, "--warehouse", "local[2]", "--warehouse-tables", tables)
    err = capsys.readouterr().err
    assert code == 1
    assert "tables.events: cannot read table" in err and str(missing) in err
    assert "at org.apache" not in err and "Traceback" not in err


def test_a_missing_postgres_table_is_named(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = _readout(workspace, "--warehouse", workspace.pg_url, "--warehouse-tables",
                       "exposures=public.no_such_exposures,events=public.no_such_events")
    err = capsys.readouterr().err
    assert code == 1 and "tables.exposures: cannot read table" in err
    assert "public.no_such_exposures" in err
