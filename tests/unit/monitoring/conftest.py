"""Fixtures for monitoring tests: a polars-backed event store, a flaky wrapper, stream builders."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest

from abwb.errors import StorageError
from abwb.events.frames import EVENT_SCHEMA, EXPOSURE_SCHEMA

T0 = datetime(2026, 6, 1, tzinfo=UTC)


class FrameEventStore:
    """EventStore reads over polars frames (fast for simulated streams); same filters as the contract."""

    def __init__(self) -> None:
        self.exposures = pl.DataFrame(schema=EXPOSURE_SCHEMA)
        self.events = pl.DataFrame(schema=EVENT_SCHEMA)
        self.reads = 0

    def add(self, exposures: pl.DataFrame, events: pl.DataFrame) -> None:
        self.exposures = pl.concat([self.exposures, exposures.cast(EXPOSURE_SCHEMA)])  # type: ignore[arg-type]
        self.events = pl.concat([self.events, events.cast(EVENT_SCHEMA)])  # type: ignore[arg-type]

    def read_exposures(self, *, experiment: str | None = None, since: datetime | None = None,
                       until: datetime | None = None) -> pl.DataFrame:
        self.reads += 1
        f = self.exposures
        if experiment is not None:
            f = f.filter(pl.col("experiment") == experiment)
        if since is not None:
            f = f.filter(pl.col("exposed_at") >= since)
        if until is not None:
            f = f.filter(pl.col("exposed_at") < until)
        return f

    def read_events(self, *, names: Sequence[str] | None = None, since: datetime | None = None,
                    until: datetime | None = None) -> pl.DataFrame:
        self.reads += 1
        f = self.events
        if names is not None:
            f = f.filter(pl.col("name").is_in(list(names)))
        if since is not None:
            f = f.filter(pl.col("occurred_at") >= since)
        if until is not None:
            f = f.filter(pl.col("occurred_at") < until)
        return f

    def close(self) -> None:
        pass


class FlakyEventStore:
    """Wraps an event store; reads raise StorageError while ``down`` is True."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.down = False

    def read_exposures(self, **kwargs: Any) -> pl.DataFrame:
        if self.down:
            raise StorageError("event store unavailable (simulated outage)")
        return self.inner.read_exposures(**kwargs)

    def read_events(self, **kwargs: Any) -> pl.DataFrame:
        if self.down:
            raise StorageError("event store unavailable (simulated outage)")
        return self.inner.read_events(**kwargs)

    def close(self) -> None:
        self.inner.close()


def minute_stream(
    rng: np.random.Generator,
    *,
    experiment: str,
    minute: int,
    units: int,
    variants: Sequence[str],
    shares: Sequence[float],
    conversion: dict[str, float],
    event: str = "buy",
    phase: int = 1,
    prefix: str = "u",
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One simulated minute: ``units`` new units split by ``shares``; each converts once
    with its variant's probability, a few seconds after exposure (vectorised)."""
    start = T0 + timedelta(minutes=minute)
    arm = rng.choice(len(variants), size=units, p=np.asarray(shares) / np.sum(shares))
    ids = [f"{prefix}{minute}-{i}" for i in range(units)]
    offsets = rng.uniform(0, 50, size=units)
    exposed = [start + timedelta(seconds=float(s)) for s in offsets]
    variant = [variants[a] for a in arm]
    exposures = pl.DataFrame({
        "exposure_id": [f"{experiment}/p{phase}/user/{u}" for u in ids],
        "experiment": experiment, "variant": variant, "phase": phase, "unit_type": "user",
        "unit_id": ids, "config_version": 1, "exposed_at": exposed,
    }, schema_overrides={"phase": pl.Int32, "config_version": pl.Int64})
    p = np.array([conversion[v] for v in variant])
    hit = rng.random(units) < p
    events = pl.DataFrame({
        "event_id": [f"{experiment}-{u}-buy" for u, h in zip(ids, hit, strict=True) if h],
        "unit_type": "user",
        "unit_id": [u for u, h in zip(ids, hit, strict=True) if h],
        "name": event,
        "value": [1.0] * int(hit.sum()),
        "occurred_at": [e + timedelta(seconds=5) for e, h in zip(exposed, hit, strict=True) if h],
        "properties": None,
    }, schema_overrides={"value": pl.Float64, "properties": pl.String})
    return exposures, events


@pytest.fixture
def frame_store() -> FrameEventStore:
    return FrameEventStore()


@pytest.fixture
def stream() -> Callable[..., tuple[pl.DataFrame, pl.DataFrame]]:
    return minute_stream


@pytest.fixture
def flaky() -> Callable[[Any], FlakyEventStore]:
    return FlakyEventStore


@pytest.fixture
def t0() -> datetime:
    return T0
