"""Incremental accumulation equals a from-scratch computation, metric kind by metric kind."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from abwb.config import ConfigBundle, Experiment, Variant
from abwb.config.experiment import ExperimentMetrics
from abwb.config.metric import Capping, MetricDefinition
from abwb.config.rollout import Rollout, RolloutStep
from abwb.events.frames import EVENT_SCHEMA, EXPOSURE_SCHEMA
from abwb.monitoring.accumulator import SubjectState, accumulate, subjects_from_bundle
from abwb.stats.summary import MeanStats, RatioStats

T0 = datetime(2026, 6, 1, tzinfo=UTC)
METRICS = [
    MetricDefinition(key="conv", kind="binomial", event="buy"),
    MetricDefinition(key="orders", kind="count", event="buy", window_end_s=1800),
    MetricDefinition(key="revenue", kind="sum", event="buy", value_column="value",
                     capping=Capping(absolute=60.0)),
    MetricDefinition(key="basket", kind="mean", event="buy", value_column="value"),
    MetricDefinition(key="late_clicks", kind="count", event="click", window_start_s=600),
    MetricDefinition(key="rev_per_click", kind="ratio", numerator_event="buy",
                     numerator_value_column="value", denominator_event="click"),
]


def _experiment() -> Experiment:
    return Experiment(
        key="exp", status="running", phase=2,
        variants=[Variant("c", 0.5, True), Variant("t1", 0.25), Variant("t2", 0.25)],
        metrics=ExperimentMetrics(primary=["conv", "revenue"],
                                  guardrails=[m.key for m in METRICS if m.key not in ("conv", "revenue")]),
    )


def _data(seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    n = 400
    ids = [f"u{i}" for i in range(n)]
    variants = rng.choice(["c", "t1", "t2"], size=n, p=[0.5, 0.25, 0.25])
    exposed = [T0 + timedelta(seconds=float(s)) for s in rng.uniform(0, 3600, n)]
    # 5 % of units get a second exposure under another variant (crossover), some a repeat.
    extra = rng.choice(n, size=40, replace=False)
    rows = {
        "exposure_id": [f"x{i}" for i in range(n)] + [f"y{i}" for i in extra],
        "experiment": "exp",
        "variant": list(variants) + [("t2" if variants[i] != "t2" else "c") if k < 20 else variants[i]
                                     for k, i in enumerate(extra)],
        "phase": [2] * n + [2] * 40,
        "unit_type": "user",
        "unit_id": ids + [ids[i] for i in extra],
        "config_version": 1,
        "exposed_at": exposed + [exposed[i] + timedelta(seconds=900) for i in extra],
    }
    exposures = pl.DataFrame(rows, schema=EXPOSURE_SCHEMA)
    # Noise: another phase, another experiment, another unit type.
    noise = exposures.head(30).with_columns(phase=pl.lit(1, pl.Int32), exposure_id=pl.col("exposure_id") + "n")
    other = exposures.head(30).with_columns(unit_type=pl.lit("device"), exposure_id=pl.col("exposure_id") + "d")
    exposures = pl.concat([exposures, noise, other])
    m = 3000
    ev_units = rng.choice([*ids, "stranger"], size=m)
    names = rng.choice(["buy", "click", "other"], size=m, p=[0.3, 0.6, 0.1])
    events = pl.DataFrame({
        "event_id": [f"e{i}" for i in range(m)],
        "unit_type": rng.choice(["user", "device"], size=m, p=[0.95, 0.05]),
        "unit_id": ev_units,
        "name": names,
        "value": np.round(rng.exponential(30, m), 2),
        "occurred_at": [T0 + timedelta(seconds=float(s)) for s in rng.uniform(-600, 7200, m)],
        "properties": None,
    }, schema=EVENT_SCHEMA)
    return exposures, events


def _brute_force(exposures: pl.DataFrame, events: pl.DataFrame) -> dict[str, dict[str, object]]:  # noqa: C901
    """Per-unit values straight from the definitions, in plain Python."""
    first: dict[str, tuple[datetime, str]] = {}
    for r in exposures.filter((pl.col("phase") == 2) & (pl.col("unit_type") == "user")).sort("exposed_at").iter_rows(named=True):
        first.setdefault(r["unit_id"], (r["exposed_at"], r["variant"]))
    out: dict[str, dict[str, object]] = {}
    evs: dict[str, list[dict[str, object]]] = {}
    for r in events.iter_rows(named=True):
        if r["unit_type"] == "user" and r["unit_id"] in first:
            evs.setdefault(r["unit_id"], []).append(r)
    for m in METRICS:
        per_variant: dict[str, list[tuple[float, float]]] = {}
        for unit, (at, variant) in first.items():
            a = b = 0.0
            for r in evs.get(unit, []):
                off = (r["occurred_at"] - at).total_seconds()
                if off < m.window_start_s or (m.window_end_s is not None and off >= m.window_end_s):
                    continue
                if m.kind == "ratio":
                    a += r["value"] if r["name"] == m.numerator_event else 0.0
                    b += 1.0 if r["name"] == m.denominator_event else 0.0
                elif r["name"] == m.event:
                    a += r["value"] if m.kind in ("sum", "mean") else 1.0
                    b += 1.0
            per_variant.setdefault(variant, []).append((a, b))
        stats: dict[str, object] = {}
        for v, ab in per_variant.items():
            if m.kind == "ratio":
                stats[v] = RatioStats.from_values([a for a, _ in ab], [b for _, b in ab])
                continue
            if m.kind == "binomial":
                ys = [float(a > 0) for a, _ in ab]
            elif m.kind == "mean":
                ys = [a / b for a, b in ab if b > 0]
            else:
                ys = [a for a, _ in ab]
            if m.capping is not None and m.capping.absolute is not None:
                ys = [min(y, m.capping.absolute) for y in ys]
            stats[v] = MeanStats.from_values(ys)
        out[m.key] = stats
    return out


def _close(a: object, b: object) -> bool:
    assert type(a) is type(b)
    return all(math.isclose(getattr(a, f), getattr(b, f), rel_tol=1e-9, abs_tol=1e-6)
               for f in a.__slots__)  # type: ignore[attr-defined]


@pytest.mark.parametrize("seed", [1, 2])
def test_incremental_passes_equal_brute_force(seed: int) -> None:
    exposures, events = _data(seed)
    bundle = ConfigBundle(experiments=[_experiment()], metrics=METRICS)
    (spec,) = subjects_from_bundle(bundle)
    state = SubjectState.empty(spec, now=T0)
    edges = [T0 - timedelta(hours=1)] + [T0 + timedelta(minutes=10 * k) for k in range(1, 13)]
    for lo, hi in itertools.pairwise(edges):
        exp = exposures.filter((pl.col("exposed_at") >= lo) & (pl.col("exposed_at") < hi)
                               & (pl.col("experiment") == "exp"))
        ev = events.filter((pl.col("occurred_at") >= lo) & (pl.col("occurred_at") < hi))
        state = accumulate(spec, state, exposures=exp, events=ev, until=hi, duration_s=600)
    expected = _brute_force(exposures, events)
    for key, per_variant in expected.items():
        assert set(state.stats[key]) == set(per_variant), key
        for variant, stats in per_variant.items():
            assert _close(state.stats[key][variant], stats), (key, variant, state.stats[key][variant], stats)
    # Counts are first exposures of the current phase and unit type; crossovers are the 20 switched units.
    assert sum(state.counts.values()) == 400
    assert state.crossed == 20
    assert state.watermark == edges[-1]


def test_subjects_cover_running_experiments_and_active_rollouts() -> None:
    from abwb.config.flag import Flag

    draft = Experiment(key="draft", variants=[Variant("c", 0.5, True), Variant("t", 0.5)])
    flag = Flag(key="f", type="bool", variations={"on": True, "off": False},
                default_variation="off", off_variation="off")
    rollout = Rollout(key="r", flag_key="f", variation="on", status="active", started_at=T0,
                      steps=[RolloutStep(traffic_fraction=0.5)], guardrails=["conv"], auto_rollback=True)
    bundle = ConfigBundle(experiments=[_experiment(), draft], flags=[flag], rollouts=[rollout], metrics=METRICS)
    specs = subjects_from_bundle(bundle)
    assert [(s.ref.kind, s.ref.key) for s in specs] == [("experiment", "exp"), ("rollout", "r")]
    exp_spec, ro_spec = specs
    assert exp_spec.treatments == ("t1", "t2") and exp_spec.phase == 2
    assert [m.key for m in exp_spec.primary] == ["conv", "revenue"]
    assert ro_spec.weights is None and ro_spec.treatments == ("on",) and ro_spec.auto_rollback


def test_rollout_exposures_pool_every_other_variant_as_control() -> None:
    rollout = Rollout(key="r", flag_key="f", variation="on", status="active", started_at=T0,
                      steps=[RolloutStep(traffic_fraction=0.5)], guardrails=["conv"])
    from abwb.config.flag import Flag

    flag = Flag(key="f", type="bool", variations={"on": True, "off": False},
                default_variation="off", off_variation="off")
    (spec,) = subjects_from_bundle(ConfigBundle(flags=[flag], rollouts=[rollout], metrics=METRICS))
    exposures = pl.DataFrame({
        "exposure_id": ["a", "b", "c"], "experiment": "r", "variant": ["on", "off", "default"],
        "phase": 1, "unit_type": "user", "unit_id": ["u1", "u2", "u3"], "config_version": 1,
        "exposed_at": [T0] * 3,
    }, schema=EXPOSURE_SCHEMA)
    state = accumulate(spec, SubjectState.empty(spec, now=T0), exposures=exposures,
                       events=pl.DataFrame(schema=EVENT_SCHEMA), until=T0 + timedelta(minutes=1),
                       duration_s=60)
    assert state.counts == {"on": 1, "control": 2}
    assert state.stats["conv"]["control"].n == 2


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_incremental_statistics_match_the_metric_pipeline(engine: str) -> None:
    """One metric semantics: the monitor's incremental fold equals abwb.metrics on the same rows
    (the monitor keeps a crossover unit in its first variant, the pipeline's ``crossovers="first"``)."""
    from abwb.metrics import compute_statistics

    exposures, events = _data(3)
    exposures = exposures.filter(pl.col("unit_type") == "user")
    (spec,) = subjects_from_bundle(ConfigBundle(experiments=[_experiment()], metrics=METRICS))
    state = SubjectState.empty(spec, now=T0)
    edges = [T0 - timedelta(hours=1)] + [T0 + timedelta(minutes=15 * k) for k in range(1, 9)]
    for lo, hi in itertools.pairwise(edges):
        state = accumulate(spec, state, duration_s=900, until=hi,
                           exposures=exposures.filter((pl.col("exposed_at") >= lo) & (pl.col("exposed_at") < hi)),
                           events=events.filter((pl.col("occurred_at") >= lo) & (pl.col("occurred_at") < hi)))
    reference = compute_statistics(exposures, events, METRICS, experiment="exp", phase=2,
                                   crossovers="first", engine=engine, as_of=edges[-1])  # type: ignore[arg-type]
    for m in METRICS:
        for variant in ("c", "t1", "t2"):
            assert _close(state.stats[m.key][variant], reference[m.key][variant]), (m.key, variant)
