"""Shared fixtures of the metric-pipeline tests: frame builders and one small experiment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from abwb.config import Experiment, Variant
from abwb.events import EVENT_SCHEMA, EXPOSURE_SCHEMA

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float = 0.0, micros: int = 0) -> datetime:
    return T0 + timedelta(seconds=seconds, microseconds=micros)


def exposures_frame(rows: list[tuple[str, str, datetime]], *, experiment: str = "exp",
                    phase: int = 1) -> pl.DataFrame:
    """Rows of (unit_id, variant, exposed_at)."""
    return pl.DataFrame(
        {
            "exposure_id": [f"{experiment}/p{phase}/user/{u}#{i}" for i, (u, _, _) in enumerate(rows)],
            "experiment": [experiment] * len(rows),
            "variant": [v for _, v, _ in rows],
            "phase": [phase] * len(rows),
            "unit_type": ["user"] * len(rows),
            "unit_id": [u for u, _, _ in rows],
            "config_version": [1] * len(rows),
            "exposed_at": [t for _, _, t in rows],
        },
        schema=EXPOSURE_SCHEMA,
    )


def events_frame(rows: list[tuple[str, str, float | None, datetime]]) -> pl.DataFrame:
    """Rows of (unit_id, name, value, occurred_at)."""
    return pl.DataFrame(
        {
            "event_id": [f"ev{i}" for i in range(len(rows))],
            "unit_type": ["user"] * len(rows),
            "unit_id": [u for u, _, _, _ in rows],
            "name": [n for _, n, _, _ in rows],
            "value": [v for _, _, v, _ in rows],
            "occurred_at": [t for _, _, _, t in rows],
            "properties": [None] * len(rows),
        },
        schema=EVENT_SCHEMA,
    )


@pytest.fixture
def experiment() -> Experiment:
    return Experiment(key="exp", status="running", variants=[
        Variant("control", 0.5, is_control=True), Variant("treatment", 0.5)])


@pytest.fixture
def small_exposures() -> pl.DataFrame:
    """u1,u2 control; u3,u4 treatment; u5 crosses over from control to treatment."""
    return exposures_frame([
        ("u1", "control", at(0)), ("u1", "control", at(3600)), ("u2", "control", at(10)),
        ("u3", "treatment", at(0)), ("u4", "treatment", at(0)),
        ("u5", "control", at(0)), ("u5", "treatment", at(5)),
    ])


@pytest.fixture
def small_events() -> pl.DataFrame:
    return events_frame([
        ("u1", "buy", 10.0, at(0)),                 # dt = 0: inside (inclusive start)
        ("u1", "buy", 5.0, at(3600)),               # dt = 1 h: outside (exclusive end)
        ("u1", "buy", 2.0, at(3599, 999_999)),      # 1 µs before the end: inside
        ("u1", "view", None, at(5)),
        ("u2", "buy", None, at(20)),                # inside, no value
        ("u3", "buy", 7.0, at(-1)),                 # pre-period
        ("u3", "buy", 4.0, at(100)),
        ("u4", "buy", 1.0, at(-3600)),              # first µs of a 1 h pre-period: inside
        ("u4", "buy", 50.0, at(-3600, -1)),         # just before it: outside
        ("u4", "view", None, at(1)), ("u4", "view", None, at(2)), ("u4", "view", None, at(3)),
        ("u5", "buy", 100.0, at(1)),                # crossover unit
        ("u9", "buy", 1000.0, at(1)),               # never exposed
    ])


@pytest.fixture
def make_exposures():  # type: ignore[no-untyped-def]
    return exposures_frame


@pytest.fixture
def make_events():  # type: ignore[no-untyped-def]
    return events_frame


@pytest.fixture
def time_at():  # type: ignore[no-untyped-def]
    return at
