"""Config objects and events shared by the contract suites."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from abwb.config import Experiment, Flag, Layer, MetricDefinition, Segment, Variant
from abwb.events import Event, Exposure, exposure_id

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def experiment(key: str = "checkout", *, status: str = "draft", weight: float = 0.5) -> Experiment:
    return Experiment(
        key=key,
        status=status,  # type: ignore[arg-type]
        variants=[
            Variant(key="control", weight=weight, is_control=True),
            Variant(key="treatment", weight=1 - weight, payload={"color": "blue"}),
        ],
    )


def segment(key: str = "pro") -> Segment:
    return Segment(key=key, condition={"attr": "plan", "op": "eq", "value": "pro"})


def flag(key: str = "new-checkout") -> Flag:
    return Flag(
        key=key,
        type="bool",
        variations={"on": True, "off": False},
        default_variation="off",
        off_variation="off",
    )


def layer(key: str = "checkout-layer") -> Layer:
    return Layer(key=key)


def metric(key: str = "purchase") -> MetricDefinition:
    return MetricDefinition(key=key, kind="binomial", event="purchase")


def event(i: int, *, name: str = "purchase", at: datetime = T0, value: float | None = 1.5) -> Event:
    return Event(
        event_id=f"ev-{i}",
        unit_type="user",
        unit_id=f"u-{i % 97}",
        name=name,
        value=value,
        occurred_at=at + timedelta(seconds=i),
        properties=None if i % 2 else '{"page": "checkout"}',
    )


def exposure(i: int, *, experiment: str = "checkout", at: datetime = T0) -> Exposure:
    unit = f"u-{i}"
    return Exposure(
        exposure_id=exposure_id(experiment, 1, "user", unit),
        experiment=experiment,
        variant="control" if i % 2 else "treatment",
        phase=1,
        unit_type="user",
        unit_id=unit,
        config_version=7,
        exposed_at=at + timedelta(seconds=i),
    )
