"""Data quality: SRM input, crossovers, missing/unknown variants and the assignment audit."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from abwb.config import Experiment, LayerPlacement, MetricDefinition, Variant
from abwb.metrics import audit_assignments, compute_statistics
from abwb.simulate import ConversionStream, SimulationConfig, simulate

START = datetime(2026, 4, 1, tzinfo=UTC)
CONV = MetricDefinition(key="conv", kind="binomial", event="buy")
STREAMS = (ConversionStream("buy", rate=0.2),)


def _exp(**kw: object) -> Experiment:
    return Experiment(key="ab", status="running", variants=[
        Variant("control", 0.5, is_control=True), Variant("treatment", 0.5)], **kw)  # type: ignore[arg-type]


def _truth_mismatches(sim_exposures: pl.DataFrame, assignments: pl.DataFrame) -> int:
    joined = sim_exposures.select("unit_id", "variant").unique().join(
        assignments.select("unit_id", pl.col("variant").alias("served")), on="unit_id")
    return joined.filter(pl.col("variant") != pl.col("served")).height


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_clean_simulation_passes_audit_and_srm(engine: str) -> None:
    exp = _exp()
    sim = simulate(exp, SimulationConfig(users=5000, start_at=START, seed=1, streams=STREAMS))
    q = compute_statistics(sim.exposures, sim.events, [CONV], experiment=exp,
                           engine=engine).quality  # type: ignore[arg-type]
    assert q.audit.status == "ok"
    assert (q.audit.audited_units, q.audit.mismatches) == (5000, 0)
    assert q.srm is not None and not q.srm.alert and q.srm_cause == ""
    assert q.crossover_units == 0


def test_audit_finds_exactly_the_injected_mismatches() -> None:
    exp = Experiment(key="ab3", status="running", traffic_fraction=0.8, variants=[
        Variant("control", 0.4, is_control=True), Variant("a", 0.3), Variant("b", 0.3)])
    sim = simulate(exp, SimulationConfig(users=6000, start_at=START, seed=2,
                                         misassigned_share=0.03, streams=STREAMS))
    audit = compute_statistics(sim.exposures, sim.events, [CONV], experiment=exp).quality.audit
    injected = _truth_mismatches(sim.exposures, sim.assignments)
    assert 100 < injected < 260
    assert audit.status == "mismatch" and audit.mismatches == injected
    assert sum(audit.mismatches_by_variant.values()) == injected
    assert len(audit.examples) == 10 and audit.outside_experiment == 0


def test_srm_from_lost_exposures_is_told_apart_from_an_assignment_bug() -> None:
    exp = _exp()
    lossy = simulate(exp, SimulationConfig(users=20_000, start_at=START, seed=3,
                                           srm_drop={"treatment": 0.1}, streams=STREAMS))
    q = compute_statistics(lossy.exposures, lossy.events, [CONV], experiment=exp).quality
    assert q.srm is not None and q.srm.alert
    assert q.audit.status == "ok" and q.srm_cause == "logging"

    clean = simulate(exp, SimulationConfig(users=20_000, start_at=START, seed=3, streams=STREAMS))
    # A bug that serves 'treatment' to a slice of control units.
    relabel = clean.exposures.with_columns(
        pl.when((pl.col("variant") == "control") & (pl.col("unit_id").str.ends_with("7")))
        .then(pl.lit("treatment")).otherwise(pl.col("variant")).alias("variant"))
    q = compute_statistics(relabel, clean.events, [CONV], experiment=exp).quality
    assert q.srm is not None and q.srm.alert
    assert q.audit.status == "mismatch" and q.srm_cause == "assignment"
    assert q.audit.mismatches_by_variant.keys() == {"treatment"}


def test_units_outside_traffic_overrides_and_crossovers() -> None:
    exp = _exp(traffic_fraction=0.5, overrides={"qa-1": "treatment"})
    sim = simulate(exp, SimulationConfig(users=3000, start_at=START, seed=4,
                                         crossover_share=0.05, streams=STREAMS))
    outsider = sim.assignments.filter(pl.col("variant").is_null())["unit_id"][0]
    extra = sim.exposures[:2].with_columns(
        pl.Series("unit_id", ["qa-1", outsider]), pl.Series("exposure_id", ["x1", "x2"]),
        pl.Series("variant", ["treatment", "control"]))
    exposures = pl.concat([sim.exposures, extra])
    q = compute_statistics(exposures, sim.events, [CONV], experiment=exp).quality
    assert q.audit.excluded_overrides == 1
    assert q.audit.outside_experiment == 1
    crossed = sim.exposures.filter(pl.col("exposure_id").str.ends_with("/crossover")).height
    assert crossed > 0 and q.crossover_units == crossed
    # Every crossover unit logged one wrong variant; plus the outsider.
    assert q.audit.mismatches == crossed + 1


def test_sticky_experiments_cannot_be_audited() -> None:
    exp = _exp(sticky=True)
    pairs = pl.DataFrame({"unit_id": ["u1"], "variant": ["control"]})
    audit = audit_assignments(pairs, exp, phase=1)
    assert audit.status == "not_auditable" and "sticky" in audit.note


def test_older_phase_is_not_audited_against_a_newer_config() -> None:
    audit = audit_assignments(pl.DataFrame({"unit_id": ["u1"], "variant": ["control"]}),
                              _exp(phase=2), phase=1)
    assert audit.status == "skipped" and "phase 1" in audit.note


def test_layered_experiment_audits_clean() -> None:
    exp = _exp(layer=LayerPlacement(layer="checkout", ranges=[(0, 3000), (6000, 8000)]))
    sim = simulate(exp, SimulationConfig(users=4000, start_at=START, seed=5, streams=STREAMS))
    assert 1500 < sim.exposures.height < 2500  # half the layer's buckets
    audit = audit_assignments(sim.exposures, exp, phase=1)
    assert audit.status == "ok" and audit.audited_units == sim.exposures.height
    wrong = audit_assignments(sim.exposures, exp, phase=1, layer_salts={"checkout": "other"})
    assert wrong.outside_experiment > 0


def test_unknown_and_missing_variants(make_exposures, time_at) -> None:  # type: ignore[no-untyped-def]
    exposures = make_exposures([("u1", "control", time_at(0)), ("u2", "typo", time_at(0))],
                               experiment="ab")
    events = pl.DataFrame(schema=sim_events_schema())
    q = compute_statistics(exposures, events, [CONV], experiment=_exp()).quality
    assert q.unknown_variants == ("typo",) and q.missing_variants == ("treatment",)
    assert q.srm is None


def sim_events_schema() -> pl.Schema:
    from abwb.events import EVENT_SCHEMA
    return EVENT_SCHEMA
