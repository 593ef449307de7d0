"""The one metric query: every dialect parses back, names its own functions; the split
hash formula matches the golden vectors; ``abwb sql`` prints it; ``from_aggregates``
gives back the same results."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest
import sqlglot
from sqlglot import exp

from abwb.assignment.sql import _split, bucket_expression
from abwb.cli.main import main as cli
from abwb.config import Capping, Experiment, MetricDefinition, Variant
from abwb.errors import InvalidInput
from abwb.metrics import WarehouseSource, compute_statistics, from_aggregates
from abwb.metrics.engine import PipelineRequest
from abwb.metrics.plan import plan_metrics
from abwb.metrics.sql_query import (
    AGGREGATE_COLUMNS,
    DIALECTS,
    WarehouseTables,
    aggregates_query,
    audit_query,
    render,
)
from abwb.stats.summary import RatioStats

METRICS = [
    MetricDefinition(key="conv", kind="binomial", event="buy", window_end_s=86_400),
    MetricDefinition(key="aov", kind="mean", event="buy", value_column="value"),
    MetricDefinition(key="rps", kind="ratio", numerator_event="buy",
                     numerator_value_column="value", denominator_event="session"),
    MetricDefinition(key="eng", kind="sum", event="eng", value_column="value",
                     cuped_window_s=86_400, capping=Capping(percentile=0.9)),
]
EXPERIMENT = Experiment(key="shop", status="running", variants=[
    Variant("control", 0.5, is_control=True), Variant("b", 0.5)])
REQUEST = PipelineRequest("shop", 1, plan_metrics(METRICS), 1_800_000_000_000_000, "first",
                          keep_units=False)
ROWS = json.loads((Path(__file__).parents[2] / "vectors" / "hashing_v1.json")
                  .read_text(encoding="utf-8"))["rows"]

#: Functions each dialect's SQL must call: its own epoch, quantile and SHA-256.
EXPECTED = {
    "bigquery": ["UNIX_MICROS", "APPROX_QUANTILES", "SHA256", "TO_HEX"],
    "snowflake": ["DATE_PART", "PERCENTILE_CONT", "SHA2"],
    "trino": ["TO_UNIXTIME", "APPROX_PERCENTILE", "SHA256", "FROM_BASE"],
    "spark": ["UNIX_MICROS", "PERCENTILE(", "SHA2", "CONV("],
    "postgres": ["EXTRACT(EPOCH", "PERCENTILE_CONT", "SHA256", "CONVERT_TO"],
    "duckdb": ["EPOCH_US", "QUANTILE_CONT", "SHA256"],
}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_dialect_parses_back_and_names_its_functions(dialect: str) -> None:
    for tree in (aggregates_query(REQUEST, WarehouseTables("wh.exp", "wh.ev")),
                 audit_query(REQUEST, WarehouseTables(), EXPERIMENT)):
        sql = render(tree, dialect)
        parsed = sqlglot.parse_one(sql, read=dialect)
        assert isinstance(parsed, exp.Query)
        for name in ("ABWB_EPOCH_US(", "ABWB_QUANTILE(", "ABWB_BUCKET("):  # all replaced
            assert name not in sql.upper()
        assert sqlglot.parse_one(parsed.sql(dialect=dialect), read=dialect) == parsed
    both = (render(aggregates_query(REQUEST, WarehouseTables()), dialect)
            + render(audit_query(REQUEST, WarehouseTables(), EXPERIMENT), dialect)).upper()
    for name in EXPECTED[dialect]:
        assert name in both, (dialect, name)


def test_aggregates_query_outputs_the_contract_columns() -> None:
    tree = aggregates_query(REQUEST, WarehouseTables())
    assert isinstance(tree, exp.Union)
    assert tuple(tree.named_selects) == AGGREGATE_COLUMNS


def test_the_split_hash_formula_matches_the_golden_vectors() -> None:
    # BigQuery/Snowflake/Trino use hi/lo halves; the arithmetic is checked in DuckDB.
    con = duckdb.connect()
    con.register("v", pl.DataFrame(ROWS).select("salt", "unit_id", "bucket"))
    split = _split("sha256((salt) || ':' || (unit_id))", "CAST(('0x' || {hex}) AS BIGINT)")
    direct = bucket_expression("duckdb", "salt", "unit_id")
    bad = con.sql(f"SELECT count(*) FILTER (WHERE {split} <> bucket), "
                  f"count(*) FILTER (WHERE {direct} <> bucket) FROM v").fetchall()[0]
    assert len(ROWS) > 1000 and bad == (0, 0)


def test_unknown_dialect_and_bad_tables_are_named() -> None:
    with pytest.raises(InvalidInput, match=r"dialect: expected one of"):
        render(aggregates_query(REQUEST, WarehouseTables()), "oracle")
    with pytest.raises(InvalidInput, match=r"dialect: expected one of"):
        bucket_expression("oracle", "'s'", "u")
    with pytest.raises(InvalidInput, match=r"tables\.events: expected a table name"):
        WarehouseTables(events=" ")
    with pytest.raises(InvalidInput, match=r"tables\.columns\.unit_id"):
        WarehouseTables(columns={"unit_id": ""})


def test_abwb_sql_prints_the_query(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "abwb.yaml"
    cfg.write_text("""
experiments:
  - key: shop
    status: running
    variants: [{key: control, weight: 0.5, is_control: true}, {key: b, weight: 0.5}]
    metrics: {primary: [conv]}
metrics:
  - {key: conv, kind: binomial, event: buy}
""", encoding="utf-8")
    assert cli(["sql", "shop", "--config", str(cfg), "--dialect", "bigquery",
                "--exposures-table", "ds.exp", "--column", "unit_id=user_id"]) == 0
    out = capsys.readouterr().out
    assert "`ds`.`exp`" in out and "`user_id`" in out and "UNIX_MICROS" in out
    sqlglot.parse_one(out.rstrip().rstrip(";"), read="bigquery")
    assert cli(["sql", "shop", "--config", str(cfg), "--dialect", "trino", "--audit"]) == 0
    assert "FROM_BASE" in capsys.readouterr().out.upper()
    assert cli(["sql", "nope", "--config", str(cfg)]) == 1
    assert cli(["sql", "shop", "--config", str(cfg), "--column", "unit_id"]) == 1
    assert "expected CONTRACT=ACTUAL" in capsys.readouterr().err


def test_from_aggregates_gives_back_the_same_results(
        small_exposures: pl.DataFrame, small_events: pl.DataFrame) -> None:
    metrics = [MetricDefinition(key="rev", kind="sum", event="buy", value_column="value",
                                cuped_window_s=3600),
               MetricDefinition(key="rpv", kind="ratio", numerator_event="buy",
                                numerator_value_column="value", denominator_event="view")]
    exp_cfg = Experiment(key="exp", status="running", variants=[
        Variant("control", 0.5, is_control=True), Variant("treatment", 0.5)])
    want = compute_statistics(small_exposures, small_events, metrics, experiment=exp_cfg)
    # What a data team gets by running the printed query on their warehouse.
    con = duckdb.connect()
    con.register("exposures", small_exposures)
    con.register("events", small_events)
    request = PipelineRequest("exp", 1, plan_metrics(metrics), None, "exclude", False)
    sql = render(aggregates_query(request, WarehouseTables()), "duckdb")
    frame = con.sql(sql).pl()
    for got in (from_aggregates(frame, experiment=exp_cfg, metrics=metrics),
                from_aggregates(frame, experiment=exp_cfg)):  # kinds inferred
        assert got.statistics == want.statistics
        assert got.quality.units_per_variant == want.quality.units_per_variant
        assert got.quality.srm == want.quality.srm
        assert got.quality.crossover_units == want.quality.crossover_units
    assert want["rpv"]["treatment"] == RatioStats(n=2, num_total=4.0, num_total_sq=16.0,
                                                  den_total=3.0, den_total_sq=9.0,
                                                  num_den_total=0.0)
    with pytest.raises(InvalidInput, match=r"frame\.section: missing column"):
        from_aggregates(frame.drop("section"))


def test_warehouse_source_kinds_and_misuse(small_exposures: pl.DataFrame,
                                           small_events: pl.DataFrame) -> None:
    assert WarehouseSource("local[2]").engine == "spark"
    assert WarehouseSource("sc://spark:15002").engine == "spark"
    assert WarehouseSource("postgresql://u@h/db").engine == "postgres"
    assert WarehouseSource(duckdb.connect()).engine == "duckdb"
    with pytest.raises(InvalidInput, match=r"warehouse: expected a postgresql://"):
        _ = WarehouseSource("mysql://h/db").engine
    con = duckdb.connect()
    con.register("exposures", small_exposures)
    con.register("events", small_events)
    source = WarehouseSource(con)
    with pytest.raises(InvalidInput, match=r"events: must be None"):
        compute_statistics(source, small_events, METRICS[:1], experiment="exp")
    with pytest.raises(InvalidInput, match=r"a duckdb connection, got engine='spark'"):
        compute_statistics(source, None, METRICS[:1], experiment="exp", engine="spark")
    # A DuckDB database of contract tables is a warehouse too: same numbers as frames.
    got = compute_statistics(source, None, METRICS[:1], experiment="exp")
    want = compute_statistics(small_exposures, small_events, METRICS[:1], experiment="exp")
    assert got.statistics == want.statistics and got.quality == want.quality
