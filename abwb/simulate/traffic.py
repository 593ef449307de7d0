"""Traffic simulation: units through the real assignment engine, then synthetic behaviour.

What belongs here: :func:`simulate`, which assigns units with
:func:`abwb.bulk.assign_frame` (the one assignment implementation — never a
second hash), draws their behaviour with vectorised numpy from a seeded generator,
injects the configured faults and returns exposure and event frames in the
contract schema; and :func:`append_to_store`, which writes them to an
``EventStore``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

from abwb.assignment.engine import Assigner
from abwb.bulk import assign_frame
from abwb.config.bundle import ConfigBundle
from abwb.config.experiment import Experiment
from abwb.errors import InvalidInput, Problem
from abwb.events.frames import EVENT_SCHEMA, EXPOSURE_SCHEMA
from abwb.events.models import AppendResult, Event, Exposure
from abwb.simulate.config import ConversionStream, GaussianStream, SimulationConfig

__all__ = ["SimulationResult", "append_to_store", "simulate"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = 1_000_000


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """What a simulation produced.

    Args:
        exposures: Logged exposures (contract schema), faults applied.
        events: Logged events (contract schema), faults applied.
        assignments: Every simulated unit with the variant the engine chose
            (``variant`` null when outside the experiment) and its ``reason``.
    """

    exposures: pl.DataFrame
    events: pl.DataFrame
    assignments: pl.DataFrame


@dataclass(frozen=True, slots=True)
class _Emitted:
    unit: np.ndarray  # index into the exposed units
    offset_us: np.ndarray  # relative to the unit's first exposure
    value: np.ndarray  # NaN for no value


def _micros(at: datetime) -> int:
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _US + delta.microseconds


def _timestamps(us: np.ndarray) -> pl.Series:
    return pl.Series(us.astype(np.int64)).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def _per_unit(mapping: Any, variants: list[str], idx: np.ndarray) -> np.ndarray:
    table = np.array([float(mapping.get(v, 0.0)) for v in variants] or [0.0])
    return np.take(table, idx)


def _conversions(
    s: ConversionStream, rng: np.random.Generator, idx: np.ndarray, variants: list[str],
    treated: np.ndarray,
) -> _Emitted:
    n = idx.size
    window_us = s.window_s * _US
    first = np.floor(rng.uniform(0, window_us, n))
    lift = _per_unit(s.lift, variants, idx)
    if s.novelty is not None:
        decay = 0.5 ** (first / (s.novelty.half_life_s * _US))
        lift = lift + np.where(treated, s.novelty.extra_lift * decay, 0.0)
    converted = rng.random(n) < np.clip(s.rate * (1 + lift), 0.0, 1.0)
    units = np.flatnonzero(converted)
    extra = rng.poisson(s.events_per_conversion - 1, units.size) if units.size else units
    more = np.repeat(units, extra)
    unit = np.concatenate([units, more])
    offset = np.concatenate([first[units], np.floor(rng.uniform(0, window_us, more.size))])
    if s.value_log_mean is None:
        value = np.full(unit.size, np.nan)
    else:
        value = rng.lognormal(s.value_log_mean, s.value_log_sd, unit.size)
        value *= 1 + _per_unit(s.value_lift, variants, idx)[unit]
    return _Emitted(unit, offset, value)


def _gaussian(
    s: GaussianStream, rng: np.random.Generator, idx: np.ndarray, variants: list[str]
) -> _Emitted:
    n = idx.size
    z = rng.standard_normal(n)
    eps = rng.standard_normal(n)
    lift = _per_unit(s.lift, variants, idx)
    post = s.mean * (1 + lift) + s.sd * (s.rho * z + np.sqrt(1 - s.rho**2) * eps)
    post_at = np.floor(rng.uniform(0, s.window_s * _US, n))
    units = np.arange(n)
    if s.pre_period_s is None:
        return _Emitted(units, post_at, post)
    pre = s.mean + s.sd * z
    # floor of a value in (-pre, 0) is at most -1 µs: strictly before exposure.
    pre_at = np.floor(rng.uniform(-s.pre_period_s * _US, 0, n))
    return _Emitted(np.concatenate([units, units]), np.concatenate([post_at, pre_at]),
                    np.concatenate([post, pre]))


def _assign(experiment: Experiment, config: SimulationConfig,
            assigner: Assigner | None) -> pl.DataFrame:
    ids = pl.DataFrame({"unit_id": pl.int_range(config.users, eager=True)}).select(
        pl.concat_str(pl.lit(config.id_prefix), pl.col("unit_id").cast(pl.String))
        .alias("unit_id"))
    engine = assigner or Assigner(ConfigBundle(experiments=[experiment]))
    return assign_frame(engine, ids, experiment.key, now=config.start_at,
                        unit_type=config.unit_type)


def _exposure_rows(
    experiment: Experiment, config: SimulationConfig, rng: np.random.Generator,
    unit_ids: pl.Series, logged: np.ndarray, first_us: np.ndarray, variants: list[str],
) -> pl.DataFrame:
    n = unit_ids.len()
    suffix = np.full(n, "", dtype=object)
    at = first_us
    ids = unit_ids
    k = len(variants)
    crossed = np.flatnonzero(rng.random(n) < config.crossover_share) if k > 1 else np.array([])
    if crossed.size:
        other = (logged[crossed] + rng.integers(1, k, crossed.size)) % k
        logged = np.concatenate([logged, other])
        at = np.concatenate([first_us, first_us[crossed] + np.floor(
            rng.uniform(1, 86_400, crossed.size) * _US)])
        ids = pl.concat([unit_ids, unit_ids.gather(crossed)])
        suffix = np.concatenate([suffix, np.full(crossed.size, "/crossover", dtype=object)])
    names = np.array(variants, dtype=object)[logged]
    keep = rng.random(logged.size) >= config.exposure_loss
    drop = np.array([float(config.srm_drop.get(v, 0.0)) for v in variants])[logged]
    keep &= rng.random(logged.size) >= drop
    prefix = f"{experiment.key}/p{experiment.phase}/{config.unit_type}/"
    frame = pl.DataFrame({
        "unit_id": ids, "variant": pl.Series(names, dtype=pl.String),
        "suffix": pl.Series(suffix, dtype=pl.String), "exposed_at": _timestamps(at),
    }).filter(pl.Series(keep))
    return frame.select(
        pl.concat_str(pl.lit(prefix), pl.col("unit_id"), pl.col("suffix")).alias("exposure_id"),
        pl.lit(experiment.key).alias("experiment"), pl.col("variant"),
        pl.lit(experiment.phase, pl.Int32).alias("phase"),
        pl.lit(config.unit_type).alias("unit_type"), pl.col("unit_id"),
        pl.lit(config.config_version, pl.Int64).alias("config_version"), pl.col("exposed_at"),
    ).cast(dict(EXPOSURE_SCHEMA))  # type: ignore[arg-type]


def simulate(
    experiment: Experiment, config: SimulationConfig, *, assigner: Assigner | None = None
) -> SimulationResult:
    """Simulate an experiment's exposures and events; deterministic for a seed.

    Units ``{id_prefix}0 ... {id_prefix}{users-1}`` are assigned at ``start_at`` by the
    real engine (targeting sees no attributes); exposed units get a first exposure
    uniformly in the exposure period and emit each stream's events relative to it.

    Args:
        experiment: The experiment (must be running at ``config.start_at``).
        config: Traffic, behaviour and faults.
        assigner: An assigner holding the experiment, when it needs layers, holdouts
            or a condition compiler; default: one built from the experiment alone.

    Returns:
        Exposure and event frames in the contract schema, and the true assignments.

    Raises:
        InvalidInput: the experiment is unknown to ``assigner``, or a stream's lift
            names a variant the experiment does not have.

    Examples:
        >>> from datetime import UTC, datetime
        >>> from abwb.config import Experiment, Variant
        >>> exp = Experiment(key="e", status="running", variants=[
        ...     Variant("control", 0.5, is_control=True), Variant("treatment", 0.5)])
        >>> cfg = SimulationConfig(users=1000, start_at=datetime(2026, 1, 1, tzinfo=UTC),
        ...     streams=(ConversionStream("buy", rate=0.1, lift={"treatment": 0.2}),))
        >>> r = simulate(exp, cfg)
        >>> r.exposures.height, r.events.columns[:3]
        (1000, ['event_id', 'unit_type', 'unit_id'])
    """
    variants = [v.key for v in experiment.variants]
    problems = [
        Problem(f"streams[{i}].{attr}", f"unknown variant {v!r}; expected one of {variants}")
        for i, s in enumerate(config.streams)
        for attr in ("lift", "value_lift") if hasattr(s, attr)
        for v in getattr(s, attr) if v not in variants
    ]
    if problems:
        raise InvalidInput(problems)
    rng = np.random.default_rng(config.seed)
    assignments = _assign(experiment, config, assigner)
    exposed = assignments.filter(pl.col("variant").is_not_null())
    index = {v: i for i, v in enumerate(variants)}
    idx = exposed["variant"].replace_strict(index, return_dtype=pl.Int64).to_numpy()
    n = idx.size
    first_us = _micros(config.start_at) + np.floor(
        rng.uniform(0, config.exposure_period_s * _US, n))
    control = next(i for i, v in enumerate(experiment.variants) if v.is_control)
    logged = idx.copy()
    wrong = (np.flatnonzero(rng.random(n) < config.misassigned_share) if len(variants) > 1
             else np.empty(0, dtype=np.intp))
    if len(wrong):
        logged[wrong] = (logged[wrong] + rng.integers(1, len(variants), len(wrong))) % len(variants)
    unit_ids = exposed["unit_id"]
    exposures = _exposure_rows(experiment, config, rng, unit_ids, logged, first_us, variants)
    events = _events(config, rng, unit_ids, idx, first_us, variants, idx != control)
    return SimulationResult(exposures=exposures, events=events, assignments=assignments)


def _events(
    config: SimulationConfig, rng: np.random.Generator, unit_ids: pl.Series, idx: np.ndarray,
    first_us: np.ndarray, variants: list[str], treated: np.ndarray,
) -> pl.DataFrame:
    parts = []
    for s in config.streams:
        if isinstance(s, ConversionStream):
            emitted = _conversions(s, rng, idx, variants, treated)
        else:
            assert isinstance(s, GaussianStream)
            emitted = _gaussian(s, rng, idx, variants)
        keep = rng.random(emitted.unit.size) >= config.event_loss
        unit = emitted.unit[keep]
        value = emitted.value[keep]
        seq = np.flatnonzero(keep)
        parts.append(pl.DataFrame({
            "event_id": pl.Series(seq).cast(pl.String),
            "unit_id": unit_ids.gather(unit),
            "name": pl.repeat(s.name, unit.size, eager=True, dtype=pl.String),
            "value": pl.Series(value, dtype=pl.Float64).fill_nan(None),
            "occurred_at": _timestamps(first_us[unit] + emitted.offset_us[keep]),
        }).with_columns(pl.concat_str(pl.lit(f"sim{config.seed}-{s.name}-"), "event_id")
                        .alias("event_id")))
    if not parts:
        return pl.DataFrame(schema=EVENT_SCHEMA)
    return pl.concat(parts).select(
        "event_id", pl.lit(config.unit_type).alias("unit_type"), "unit_id", "name", "value",
        "occurred_at", pl.lit(None, pl.String).alias("properties"),
    ).cast(dict(EVENT_SCHEMA))  # type: ignore[arg-type]


def append_to_store(
    result: SimulationResult, store: Any, *, batch_size: int = 10_000
) -> tuple[AppendResult, AppendResult]:
    """Append a simulation's exposures and events to an ``EventStore``.

    Args:
        result: The simulation.
        store: Any :class:`abwb.store.protocol.EventStore`.
        batch_size: Rows per append call (each one transaction).

    Returns:
        ``(exposures, events)`` append results, summed over batches.
    """
    totals = []
    for frame, model, append in (
        (result.exposures, Exposure, store.append_exposures),
        (result.events, Event, store.append_events),
    ):
        accepted = duplicates = 0
        for chunk in frame.iter_slices(batch_size):
            got = append([model(**row) for row in chunk.iter_rows(named=True)])
            accepted += got.accepted
            duplicates += got.duplicates
        totals.append(AppendResult(accepted=accepted, duplicates=duplicates))
    return totals[0], totals[1]
