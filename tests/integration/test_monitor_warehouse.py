"""``abwb monitor --warehouse``: the monitor's statistics pushed down to PostgreSQL (and Spark
``local[2]``) by the metric pipeline's SQL give the same states and the same alerts — an
injected SRM, a guardrail regression, a rollout's guardrail rollback — as the embedded
monitor reading the same rows incrementally, pass after pass."""

from __future__ import annotations

import dataclasses
import json
import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from abwb.cli.main import main
from abwb.config import (
    Capping,
    ConfigBundle,
    Experiment,
    ExperimentMetrics,
    Flag,
    MetricDefinition,
    Rollout,
    RolloutStep,
    Variant,
)
from abwb.metrics import WarehouseSource, WarehouseTables, warehouse_source
from abwb.monitoring import MemoryAlertStore, Monitor, MonitorConfig, SubjectState
from abwb.settings import AnalysisSettings, DatabaseSettings, Settings
from abwb.simulate import ConversionStream, SimulationConfig, append_to_store, simulate
from abwb.store import PostgresDatabase, open_stores
from abwb.store.memory import MemoryConfigStore, MemoryEventStore
from abwb.store.postgres_events import PostgresEventStore

pytestmark = pytest.mark.integration

T0 = datetime(2026, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
ERRORS = MetricDefinition(key="errors", kind="binomial", event="error", direction="decrease")
PURCHASE = MetricDefinition(key="purchase", kind="binomial", event="purchase")
# A percentile cap and CUPED: the monitor measures without them, embedded and pushed down.
REVENUE = MetricDefinition(key="revenue", kind="sum", event="purchase", value_column="value",
                           cuped_window_s=7 * 86_400, window_end_s=3 * 86_400,
                           capping=Capping(percentile=0.99))
METRICS = [ERRORS, PURCHASE, REVENUE]
TWO_ARMS = [Variant("control", 0.5, is_control=True), Variant("treatment", 0.5)]
SRM = Experiment(key="wm-srm", status="running", variants=TWO_ARMS,
                 metrics=ExperimentMetrics(primary=["purchase"], guardrails=["errors"]))
HARM = Experiment(key="wm-harm", status="running", variants=TWO_ARMS,
                  metrics=ExperimentMetrics(primary=["revenue"], guardrails=["errors"]))
FLAG = Flag(key="wm-flag", type="bool", variations={"off": False, "on": True},
            default_variation="off", off_variation="off")
ROLLOUT = Rollout(key="wm-rollout", flag_key="wm-flag", variation="on", status="active",
                  started_at=T0, steps=[RolloutStep(traffic_fraction=0.5)],
                  guardrails=["errors"], auto_rollback=True)


def _bundle() -> ConfigBundle:
    return ConfigBundle(experiments=[SRM, HARM], metrics=METRICS, flags=[FLAG],
                        rollouts=[ROLLOUT])


def _streams(harm: float, treatment: str = "treatment") -> tuple[ConversionStream, ...]:
    return (ConversionStream("error", rate=0.05, lift={treatment: harm}, window_s=6 * 3600),
            ConversionStream("purchase", rate=0.2, value_log_mean=3.0, window_s=6 * 3600))


def _simulations(part: int) -> list[Any]:
    """Day ``part`` of traffic: the SRM experiment, the harmful one and the rollout.

    Day 1 starts after the first pass: rows older than a pass's cut-off that arrive later
    are never read by the embedded monitor, while a warehouse pass recounts them.
    """
    start = T0 + part * (DAY + HOUR)
    rollout = Experiment(key=ROLLOUT.key, status="running", variants=[
        Variant("off", 0.5, is_control=True), Variant("on", 0.5)])
    return [
        simulate(SRM, SimulationConfig(users=3000, start_at=start, seed=10 + part,
                                       exposure_period_s=86_400, id_prefix=f"s{part}-",
                                       srm_drop={"treatment": 0.15}, crossover_share=0.02,
                                       streams=_streams(0.0))),
        simulate(HARM, SimulationConfig(users=3000, start_at=start, seed=20 + part,
                                        exposure_period_s=86_400, id_prefix=f"h{part}-",
                                        streams=_streams(1.5))),
        simulate(rollout, SimulationConfig(users=3000, start_at=start, seed=30 + part,
                                           exposure_period_s=86_400, id_prefix=f"r{part}-",
                                           streams=_streams(1.5, "on"))),
    ]


@pytest.fixture(scope="module")
def pg(pg_url: str) -> Iterator[tuple[PostgresEventStore, str]]:
    schema = f"t_wmon_{uuid.uuid4().hex[:10]}"
    db = PostgresDatabase(pg_url, schema=schema)
    try:
        yield PostgresEventStore(db), schema
    finally:
        db.close()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _monitor(events: Any, warehouse: WarehouseSource | None = None) -> Monitor:
    return Monitor(MemoryConfigStore(_bundle()), events, MemoryAlertStore(),
                   config=MonitorConfig(lateness_s=60), warehouse=warehouse)


def assert_same_state(got: SubjectState, want: SubjectState, subject: str) -> None:
    assert got.counts == want.counts, subject
    assert got.crossed == want.crossed, subject
    assert got.last_exposure_at == want.last_exposure_at, subject
    assert got.trailing == want.trailing, subject
    assert set(got.stats) == set(want.stats), subject
    for metric, per_variant in want.stats.items():
        assert set(got.stats[metric]) == set(per_variant), (subject, metric)
        for variant, stats in per_variant.items():
            mine = got.stats[metric][variant]
            for name in (f.name for f in dataclasses.fields(stats)):
                a, b = getattr(mine, name), getattr(stats, name)
                assert math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9), (
                    subject, metric, variant, name, a, b)


def _alerts(monitor: Monitor) -> set[tuple[str, str, str | None]]:
    return {(a.dedup_key, a.severity, a.action) for a in monitor.alert_store.open_alerts()}


def _run_side_by_side(store: Any, warehouse: WarehouseSource) -> None:
    embedded, pushed = _monitor(store), _monitor(MemoryEventStore(), warehouse)
    for part, now in ((0, T0 + DAY + HOUR), (1, T0 + 2 * DAY + 2 * HOUR)):
        if part == 1:  # new rows arrive between passes: incremental vs recomputed
            for sim in _simulations(1):
                append_to_store(sim, store)
            _refresh(warehouse, store)
        want, got = embedded.run_pass(now), pushed.run_pass(now)
        assert want.ok and got.ok, (want.errors, got.errors)
        assert got.exposures_read == want.exposures_read
        assert set(got.actions) == set(want.actions)
        assert set(pushed.states) == set(embedded.states) == {
            "experiment:wm-srm", "experiment:wm-harm", "rollout:wm-rollout"}
        for key, state in embedded.states.items():
            assert_same_state(pushed.states[key], state, key)
        assert _alerts(pushed) == _alerts(embedded)
    keys = {key for key, _, _ in _alerts(pushed)}
    assert "srm:wm-srm" in keys
    assert {"guardrail:wm-harm:errors:treatment", "guardrail:wm-rollout:errors:on"} <= keys
    assert not {k for k in keys if k.startswith(("srm:wm-harm", "guardrail:wm-srm"))}
    assert ("guardrail:wm-rollout:errors:on", "critical", "rolled_back") in _alerts(pushed)
    assert pushed.config_store.get("rollout", ROLLOUT.key).status == "rolled_back"


def _refresh(warehouse: WarehouseSource, store: Any) -> None:
    """Spark reads Parquet files, DuckDB frames: refresh them (PostgreSQL reads the tables)."""
    if warehouse.engine == "duckdb":
        warehouse.connection.register("wm_exposures", store.read_exposures())
        warehouse.connection.register("wm_events", store.read_events())
        return
    if warehouse.engine != "spark":
        return
    for name, frame in (("exposures", store.read_exposures()), ("events", store.read_events())):
        path = Path(getattr(warehouse.tables, name).split("`")[1])
        frame.write_parquet(path)
        warehouse.connection.catalog.refreshByPath(str(path))


@pytest.fixture(scope="module")
def loaded(pg: tuple[PostgresEventStore, str]) -> tuple[PostgresEventStore, str]:
    store, schema = pg
    for sim in _simulations(0):
        append_to_store(sim, store)
    return store, schema


def test_postgres_pushdown_raises_the_alerts_of_the_embedded_monitor(
    loaded: tuple[PostgresEventStore, str], pg_url: str
) -> None:
    store, schema = loaded
    # The URL alone: the event store's own tables, in its schema (ABWB_DATABASE_SCHEMA).
    source = warehouse_source(Settings(database=DatabaseSettings(url=pg_url, schema=schema)),
                              url=pg_url)
    assert source is not None
    _run_side_by_side(store, source)


def test_duckdb_pushdown_raises_the_alerts_of_the_embedded_monitor() -> None:
    import duckdb

    store = MemoryEventStore()
    for sim in _simulations(0):
        append_to_store(sim, store)
    source = WarehouseSource(duckdb.connect(), WarehouseTables("wm_exposures", "wm_events"))
    _refresh(source, store)
    _run_side_by_side(store, source)


@pytest.mark.spark
def test_spark_pushdown_raises_the_alerts_of_the_embedded_monitor(
    pg_url: str, spark: Any, tmp_path: Path
) -> None:
    schema = f"t_wmsp_{uuid.uuid4().hex[:10]}"
    db = PostgresDatabase(pg_url, schema=schema)
    try:
        store = PostgresEventStore(db)
        for sim in _simulations(0):
            append_to_store(sim, store)
        tables = WarehouseTables(f"parquet.`{tmp_path / 'exposures.parquet'}`",
                                 f"parquet.`{tmp_path / 'events.parquet'}`")
        source = WarehouseSource(spark, tables)
        store.read_exposures().write_parquet(tmp_path / "exposures.parquet")
        store.read_events().write_parquet(tmp_path / "events.parquet")
        _run_side_by_side(store, source)
    finally:
        db.close()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_the_cli_monitors_in_the_warehouse(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    schema = f"t_wmcli_{uuid.uuid4().hex[:10]}"
    settings = Settings(database=DatabaseSettings(url=pg_url, schema=schema, home=tmp_path),
                        analysis=AnalysisSettings(reports_dir=tmp_path))
    stores = open_stores(settings)
    try:
        for kind, objects in (("metric", METRICS), ("flag", [FLAG]),
                              ("experiment", [SRM, HARM]), ("rollout", [ROLLOUT])):
            for obj in objects:
                stores.config.create(kind, obj, actor="test")  # type: ignore[arg-type]
        for sim in (*_simulations(0), *_simulations(1)):
            append_to_store(sim, stores.events)
        for name in ("ABWB_REDIS_URL", "ABWB_ALERT_WEBHOOK_URL", "ABWB_WAREHOUSE_TABLES"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("ABWB_DATABASE_URL", pg_url)
        monkeypatch.setenv("ABWB_DATABASE_SCHEMA", schema)
        monkeypatch.setenv("ABWB_WAREHOUSE_URL", pg_url)
        assert main(["monitor", "--no-rollback"]) == 0
        assert "alert(s) opened" in capsys.readouterr().out
        assert main(["monitor", "--list", "--status", "open", "--json"]) == 0
        opened = {json.loads(line)["dedup_key"] for line in capsys.readouterr().out.splitlines()}
        assert {"srm:wm-srm", "guardrail:wm-harm:errors:treatment"} <= opened
        # A table that is not there is named before any pass.
        assert main(["monitor", "--warehouse-tables",
                     f"exposures={schema}.nope,events={schema}.events"]) == 1
        err = capsys.readouterr().err
        assert f"tables.exposures: cannot read table '{schema}.nope'" in err
    finally:
        stores.close()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
