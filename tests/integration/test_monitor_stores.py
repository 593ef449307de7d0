"""The monitor on the real stores: SQLite file and PostgreSQL (own schema).

A real outage: the ``events`` table is renamed away by another connection for two
passes (the store's reads fail with its own ``StorageError``) and restored; the
monitor reports the failed passes, keeps its watermark, and ends with exactly the
statistics of a monitor that never saw the outage. The PostgreSQL alert store
survives its schema being dropped and recreated (it reconnects), and enforces one
open alert per dedup key.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import psycopg
import pytest

from abwb.config import Experiment, Variant
from abwb.config.experiment import ExperimentMetrics
from abwb.config.metric import MetricDefinition
from abwb.errors import StorageError
from abwb.events.models import Event, Exposure
from abwb.monitoring import (
    Monitor,
    MonitorConfig,
    PostgresAlertStore,
    SqliteAlertStore,
    list_alerts,
)
from abwb.monitoring.alerts import Evidence, Finding, reconcile
from abwb.settings import DatabaseSettings, Settings
from abwb.store import PostgresDatabase, open_stores

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def minute_stream(rng: np.random.Generator, *, experiment: str, minute: int, units: int,
                  conversion: float = 0.3) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One simulated minute of a 50/50 experiment: exposures, and a conversion per converting unit."""
    start = T0 + timedelta(minutes=minute)
    ids = [f"u{minute}-{i}" for i in range(units)]
    exposed = [start + timedelta(seconds=float(s)) for s in rng.uniform(0, 50, units)]
    exposures = pl.DataFrame({
        "exposure_id": [f"{experiment}/p1/user/{u}" for u in ids], "experiment": experiment,
        "variant": rng.choice(["c", "t"], size=units).tolist(), "phase": 1, "unit_type": "user",
        "unit_id": ids, "config_version": 1, "exposed_at": exposed,
    })
    hit = rng.random(units) < conversion
    events = pl.DataFrame({
        "event_id": [f"{u}-buy" for u, h in zip(ids, hit, strict=True) if h], "unit_type": "user",
        "unit_id": [u for u, h in zip(ids, hit, strict=True) if h], "name": "buy",
        "value": [1.0] * int(hit.sum()),
        "occurred_at": [e + timedelta(seconds=5) for e, h in zip(exposed, hit, strict=True) if h],
        "properties": [None] * int(hit.sum()),
    })
    return exposures, events


@pytest.fixture
def pg_schema(pg_url: str) -> Iterator[str]:
    schema = f"t_monitor_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield schema
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _seed(config: Any) -> None:
    config.create("metric", MetricDefinition(key="conv", kind="binomial", event="buy"), actor="me")
    config.create("experiment", Experiment(key="exp", status="running",
                                           variants=[Variant("c", 0.5, True), Variant("t", 0.5)],
                                           metrics=ExperimentMetrics(guardrails=["conv"])), actor="me")


def _append(events: Any, exp: pl.DataFrame, ev: pl.DataFrame) -> None:
    events.append_exposures([Exposure(**r) for r in exp.iter_rows(named=True)])
    events.append_events([Event(**r) for r in ev.iter_rows(named=True)])


def _outage_run(config: Any, events: Any, alerts: Any, take_down: Callable[[], None], bring_up: Callable[[], None]) -> None:
    _seed(config)
    cfg = MonitorConfig(lateness_s=0)
    steady = Monitor(config, events, alerts, config=cfg)
    faulty = Monitor(config, events, alerts, config=cfg)
    rng = np.random.default_rng(5)
    for minute in range(6):
        _append(events, *minute_stream(rng, experiment="exp", minute=minute, units=150))
        now = T0 + timedelta(minutes=minute + 1)
        steady.run_pass(now)
        outage = minute in (2, 3)
        if outage:  # the table disappears just for the faulty monitor's pass
            take_down()
        report = faulty.run_pass(now)
        if outage:
            bring_up()
            assert not report.ok and "retry next pass" in report.errors[0]
        else:
            assert report.ok, report.errors
    a, b = steady.states["experiment:exp"], faulty.states["experiment:exp"]
    assert b.counts == a.counts and sum(b.counts.values()) == 6 * 150
    assert b.stats == a.stats


def test_sqlite_event_store_outage_loses_nothing(tmp_path: Path) -> None:
    home = tmp_path / ".abwb"
    opened = open_stores(Settings(database=DatabaseSettings(home=home)))
    config, events = opened.config, opened.events
    opened.alerts.close()
    alerts = SqliteAlertStore(home / "abwb.db")
    other = sqlite3.connect(home / "abwb.db", isolation_level=None)
    try:
        _outage_run(config, events, alerts,
                    lambda: other.execute("ALTER TABLE events RENAME TO events_offline"),
                    lambda: other.execute("ALTER TABLE events_offline RENAME TO events"))
    finally:
        other.close()
        alerts.close()
        config.close()
        events.close()


@pytest.mark.integration
def test_postgres_event_store_outage_loses_nothing(pg_url: str, pg_schema: str) -> None:
    opened = open_stores(Settings(database=DatabaseSettings(url=pg_url)), schema=pg_schema)
    config, events = opened.config, opened.events
    alerts = opened.alerts
    other = psycopg.connect(pg_url, autocommit=True)
    try:
        _outage_run(config, events, alerts,
                    lambda: other.execute(f'ALTER TABLE "{pg_schema}".events RENAME TO events_offline'),
                    lambda: other.execute(f'ALTER TABLE "{pg_schema}".events_offline RENAME TO events'))
    finally:
        other.close()
        alerts.close()
        config.close()
        events.close()


def _finding(key: str, firing: bool = True) -> Finding:
    return Finding(key, firing, "guardrail", "critical", f"{key} harmed",
                   Evidence(statistic=-4.2, threshold=0.025, p_value=1e-4, n={"c": 900, "t": 880},
                            effect_rel=-0.1, ci_low_rel=-0.2, ci_high_rel=-0.02),
                   experiment="exp", metric="conv", variant="t")


@pytest.mark.integration
def test_postgres_alert_store_contract_and_schema_drop(pg_url: str, pg_schema: str) -> None:
    store = PostgresAlertStore(PostgresDatabase(pg_url, schema=pg_schema), owns=True)
    try:
        opened = reconcile([], [_finding("guardrail:exp:conv:t")], now=T0).opened
        store.save(opened)
        assert store.open_alerts() == opened
        assert list_alerts(store, experiment="exp", kind="guardrail") == opened
        with pytest.raises(StorageError, match="alerts_open_dedup"):
            store.save(reconcile([], [_finding("guardrail:exp:conv:t")], now=T0 + timedelta(minutes=1)).opened)
        resolved = reconcile(opened, [_finding("guardrail:exp:conv:t", firing=False)], now=T0 + timedelta(hours=1)).resolved
        store.save(resolved)
        assert list_alerts(store, status="resolved") == resolved and store.open_alerts() == []
        # Outage: the schema disappears; the store reports it, then recovers once it is back.
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{pg_schema}" CASCADE')
        with pytest.raises(StorageError, match="reading alerts failed"):
            store.open_alerts()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{pg_schema}"')
        PostgresDatabase(pg_url, schema=pg_schema).close()  # migrates the new schema
        store.save(opened)
        assert store.open_alerts() == opened
    finally:
        store.close()
