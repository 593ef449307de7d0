"""Naming a warehouse's tables: ``--warehouse-tables`` / ``ABWB_WAREHOUSE_TABLES`` parsed into
``WarehouseTables`` (quote-aware, Spark path tables, schema-qualified PostgreSQL tables),
the defaults per engine, and errors that name the option or variable."""

from __future__ import annotations

import pytest
import sqlglot

from abwb.errors import InvalidInput
from abwb.metrics import WarehouseSource, WarehouseTables, warehouse_source
from abwb.metrics.sql_query import render
from abwb.settings import AnalysisSettings, DatabaseSettings, Settings


@pytest.mark.parametrize(("text", "exposures", "events"), [
    ("exposures=analytics.exposures,events=analytics.events",
     '"analytics"."exposures"', '"analytics"."events"'),
    ("events=parquet.`/d/v1.2/ev`, exposures=parquet.`/d/a,b/exp`",
     '"parquet"."/d/a,b/exp"', '"parquet"."/d/v1.2/ev"'),
    ('exposures="My ""Schema""".exp,events=ev', '"My ""Schema"""."exp"', '"ev"'),
])
def test_table_option_is_parsed_quote_aware(text: str, exposures: str, events: str) -> None:
    tables = WarehouseTables.parse(text, path="--warehouse-tables")
    assert (tables.table("exposures"), tables.table("events")) == (exposures, events)


def test_spark_renders_a_path_table_as_spark_reads_it() -> None:
    tables = WarehouseTables.parse(
        "exposures=parquet.`/data/v1.2/exposures`,events=x.y", path="t")
    tree = sqlglot.parse_one(f"SELECT 1 FROM {tables.table('exposures')}")
    assert render(tree, "spark") == "SELECT 1 FROM `parquet`.`/data/v1.2/exposures`"
    assert render(tree, "postgres") == 'SELECT 1 FROM "parquet"."/data/v1.2/exposures"'


@pytest.mark.parametrize(("text", "message"), [
    ("exposures=a", r"--warehouse-tables: missing events=TABLE"),
    ("exposures=a,events=b,exposures=c", r"--warehouse-tables: exposures given twice"),
    ("exposures=a,event=b", r"--warehouse-tables: unknown entry 'event=b'"),
    ("exposures=a,events=", r"--warehouse-tables: events: expected a table name"),
    ("exposures=parquet.`/x,events=b", r"--warehouse-tables: unbalanced `"),
    ("exposures=a..b,events=c", r"--warehouse-tables exposures: empty part"),
])
def test_bad_table_options_name_the_option(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        WarehouseTables.parse(text, path="--warehouse-tables")


def _settings(**analysis: str) -> Settings:
    return Settings(database=DatabaseSettings(schema="shop"),
                    analysis=AnalysisSettings(**analysis))  # type: ignore[arg-type]


def test_a_postgres_warehouse_defaults_to_the_event_stores_schema() -> None:
    source = warehouse_source(_settings(), url="postgresql://h/db")
    assert source is not None and source.engine == "postgres"
    assert source.tables.table("exposures") == '"shop"."exposures"'
    spark = warehouse_source(_settings(), url="local[2]")
    assert spark is not None and spark.tables == WarehouseTables()
    assert warehouse_source(_settings()) is None


def test_options_override_settings_and_errors_name_their_origin() -> None:
    settings = _settings(warehouse_url="local[2]", warehouse_tables="exposures=a,events=b")
    from_env = warehouse_source(settings)
    assert from_env == WarehouseSource("local[2]", WarehouseTables("a", "b"))
    chosen = warehouse_source(settings, url="postgresql://h/db", tables="exposures=c,events=d")
    assert chosen == WarehouseSource("postgresql://h/db", WarehouseTables("c", "d"))
    with pytest.raises(InvalidInput, match="ABWB_WAREHOUSE_TABLES: missing events"):
        warehouse_source(_settings(warehouse_url="local[2]", warehouse_tables="exposures=a"))
    with pytest.raises(InvalidInput, match="--warehouse-tables: tables need a warehouse"):
        warehouse_source(_settings(), tables="exposures=a,events=b")
    with pytest.raises(InvalidInput, match="warehouse: expected a postgresql://"):
        warehouse_source(_settings(), url="mysql://h/db")


def test_settings_read_the_warehouse_tables() -> None:
    env = {"ABWB_WAREHOUSE_URL": "local[2]", "ABWB_WAREHOUSE_TABLES": "exposures=a,events=b"}
    analysis = Settings.from_env(env).analysis
    assert (analysis.warehouse_url, analysis.warehouse_tables) == (
        "local[2]", "exposures=a,events=b")
