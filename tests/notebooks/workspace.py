"""A small fixture workspace: a SQLite database with one experiment, its metrics, and
exposures assigned by the real engine plus seeded synthetic events."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from abwb.bulk import assign_frame
from abwb.assignment.engine import Assigner
from abwb.config import ConfigBundle, Experiment, ExperimentMetrics, MetricDefinition, Variant
from abwb.events import Event, Exposure, exposure_id
from abwb.settings import AnalysisSettings, DatabaseSettings, Settings
from abwb.store import open_stores

KEY = "checkout-redesign"
START = datetime(2026, 5, 1, tzinfo=UTC)
AS_OF = date(2026, 5, 10)
RATES = {"control": 0.10, "one-page": 0.13}


def experiment() -> Experiment:
    return Experiment(
        key=KEY, name="One-page checkout", owner="payments-team", status="running",
        hypothesis="A single-page checkout raises purchase conversion.",
        variants=[Variant(key="control", weight=0.5, is_control=True),
                  Variant(key="one-page", weight=0.5)],
        metrics=ExperimentMetrics(primary=["purchase"], secondary=["revenue"],
                                  guardrails=["latency"]),
    )


def metric_definitions() -> list[MetricDefinition]:
    return [
        MetricDefinition(key="purchase", kind="binomial", event="purchase", name="Purchase"),
        MetricDefinition(key="revenue", kind="sum", event="purchase", value_column="value",
                         name="Revenue"),
        MetricDefinition(key="latency", kind="mean", event="page_load", value_column="value",
                         direction="decrease", guardrail_max_harm_rel=0.05, name="Latency"),
    ]


def build_workspace(tmp: Path, *, users: int = 3000, seed: int = 11) -> Settings:
    """Create the SQLite workspace under ``tmp`` and return settings pointing at it."""
    settings = Settings(
        database=DatabaseSettings(url=f"sqlite:///{(tmp / 'abwb.db').as_posix()}", home=tmp),
        analysis=AnalysisSettings(reports_dir=tmp / "reports"),
    )
    opened = open_stores(settings)
    config_store, event_store = opened.config, opened.events
    opened.alerts.close()
    try:
        for m in metric_definitions():
            config_store.create("metric", m, actor="test")
        exp = config_store.create("experiment", experiment(), actor="test")
        rng = np.random.default_rng(seed)
        ids = pl.DataFrame({"unit_id": [f"user-{i:05d}" for i in range(users)]})
        assigned = assign_frame(Assigner(ConfigBundle(experiments=[exp],
                                                      metrics=metric_definitions())),
                                ids, KEY, now=START)
        offsets = rng.uniform(0, 9 * 86400, users)
        exposures, events = [], []
        for i, (unit, variant) in enumerate(assigned.select("unit_id", "variant").iter_rows()):
            at = START + timedelta(seconds=float(offsets[i]))
            exposures.append(Exposure(exposure_id=exposure_id(KEY, 1, "user", unit),
                                      experiment=KEY, variant=variant, phase=1,
                                      unit_type="user", unit_id=unit, config_version=1,
                                      exposed_at=at))
            if rng.random() < RATES[variant]:
                events.append(Event(event_id=f"buy-{unit}", unit_type="user", unit_id=unit,
                                    name="purchase", value=float(rng.gamma(2.0, 20.0)),
                                    occurred_at=at + timedelta(hours=2)))
            events.append(Event(event_id=f"load-{unit}", unit_type="user", unit_id=unit,
                                name="page_load", value=float(rng.normal(300, 40)),
                                occurred_at=at + timedelta(seconds=5)))
        event_store.append_exposures(exposures)
        event_store.append_events(events)
    finally:
        config_store.close()
        event_store.close()
    return settings
