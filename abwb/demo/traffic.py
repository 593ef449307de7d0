"""The demo's simulated traffic: users with attributes, assigned by the real engine, behaving.

What belongs here: the demo's behavioural model — who the users are (country, plan,
app version), what each variant truly does to them (the "true effects" the analysis
should recover) and the exposure/event rows they produce — plus the rollout traffic
with an injected regression for the monitoring step. Assignment is never done here:
:func:`experiment_traffic` calls :func:`abwb.bulk.assign_frame` with the
config snapshot's compiled :class:`~abwb.assignment.engine.Assigner`, so targeting,
layers, holdouts, traffic and overrides behave exactly as in the API; flag decisions
in :func:`rollout_minute` come from the snapshot's ``FlagEvaluator``.

The model: each user has a latent purchase propensity ``z``; before exposure they buy
with probability ``p(z)`` (the CUPED covariate), after exposure with
``p(z)·(1 + lift[variant])`` and order values ``v(z)`` — so pre- and post-period
revenue correlate and CUPED visibly reduces variance. Every user also loads the
checkout page once; its latency is ``N(mean·(1 + latency_lift[variant]), sd)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from abwb.assignment.engine import Assigner
from abwb.bulk import assign_frame
from abwb.config.experiment import Experiment
from abwb.events.frames import EVENT_SCHEMA, EXPOSURE_SCHEMA
from abwb.events.models import exposure_id
from abwb.flags.evaluator import FlagEvaluator

__all__ = ["TrueEffects", "demo_population", "experiment_traffic", "rollout_minute"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_US = 86_400 * 1_000_000
COUNTRIES = ["US", "CA", "DE", "FR", "GB", "BR", "JP", "IN"]
COUNTRY_P = [0.35, 0.1, 0.15, 0.1, 0.1, 0.1, 0.05, 0.05]
PLANS = ["free", "pro", "enterprise"]
APP_VERSIONS = ["4.0.3", "4.1.0", "4.2.0", "4.2.1", "4.3.0", "5.0.0"]


@dataclass(frozen=True, slots=True)
class TrueEffects:
    """What the variants truly do (relative lifts) and the baseline behaviour.

    Args:
        purchase_lift: Variant → relative lift of the purchase probability.
        latency_lift: Variant → relative lift of the checkout page latency.
        base_purchase: Control probability of a purchase in the window.
        latency_ms: Control mean latency of the checkout page (ms).
        latency_sd_ms: Standard deviation of the latency (ms).
    """

    purchase_lift: dict[str, float] = field(
        default_factory=lambda: {"one-page": 0.04, "one-page-express": 0.06})
    latency_lift: dict[str, float] = field(default_factory=lambda: {"one-page-express": 0.03})
    base_purchase: float = 0.3
    latency_ms: float = 800.0
    latency_sd_ms: float = 200.0


def demo_population(n: int, *, seed: int = 7, prefix: str = "user-") -> pl.DataFrame:
    """``n`` synthetic users: ``unit_id``, ``country``, ``plan``, ``app`` {``version``}.

    Examples:
        >>> demo_population(3).columns
        ['unit_id', 'country', 'plan', 'app']
    """
    rng = np.random.default_rng(seed)
    return pl.DataFrame({
        "unit_id": [f"{prefix}{i:06d}" for i in range(n)],
        "country": rng.choice(COUNTRIES, size=n, p=COUNTRY_P),
        "plan": rng.choice(PLANS, size=n, p=[0.7, 0.25, 0.05]),
        "app": pl.DataFrame({"version": rng.choice(APP_VERSIONS, size=n)}).to_struct(),
    })


def _us(at: datetime) -> int:
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _ts(us: np.ndarray) -> pl.Series:
    return pl.Series(us.astype(np.int64)).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def experiment_traffic(
    assigner: Assigner,
    experiment: Experiment,
    population: pl.DataFrame,
    *,
    start_at: datetime,
    exposure_days: float,
    effects: TrueEffects,
    config_version: int,
    seed: int = 11,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Assign ``population`` with the real engine, then draw exposures and events.

    Args:
        assigner: The config snapshot's assigner.
        experiment: The experiment (as in the snapshot).
        population: Users with attributes (see :func:`demo_population`).
        start_at: When exposures start.
        exposure_days: Users arrive uniformly over this many days.
        effects: True behaviour per variant.
        config_version: Version written on the exposures.
        seed: Random seed.

    Returns:
        ``(assignments, exposures, events)``: every user's variant and reason, and the
        exposure and event rows (contract schemas) of the exposed users.
    """
    rng = np.random.default_rng(seed)
    assigned = assign_frame(assigner, population, experiment.key, now=start_at)
    exposed = assigned.filter(pl.col("variant").is_not_null()).select("unit_id", "variant")
    n = exposed.height
    variant = exposed["variant"].to_numpy()
    first = _us(start_at) + np.floor(rng.uniform(0, exposure_days * _DAY_US, n))
    exposures = pl.DataFrame({
        "exposure_id": [exposure_id(experiment.key, experiment.phase, "user", u)
                        for u in exposed["unit_id"]],
        "experiment": experiment.key, "variant": exposed["variant"],
        "phase": experiment.phase, "unit_type": "user", "unit_id": exposed["unit_id"],
        "config_version": config_version, "exposed_at": _ts(first),
    }).cast(dict(EXPOSURE_SCHEMA))  # type: ignore[arg-type]
    z = rng.standard_normal(n)
    propensity = np.clip(effects.base_purchase * np.exp(0.6 * z - 0.18), 0.0, 0.95)
    value_mean = np.exp(3.6 + 0.4 * z)
    lift = np.array([effects.purchase_lift.get(v, 0.0) for v in variant])
    latency_lift = np.array([effects.latency_lift.get(v, 0.0) for v in variant])
    parts = []
    # Pre-period purchase (the CUPED covariate), then the purchase after exposure.
    pre = np.flatnonzero(rng.random(n) < propensity)
    parts.append(("purchase", pre, first[pre] - np.floor(rng.uniform(1, 13 * _DAY_US, pre.size)),
                  value_mean[pre] * rng.lognormal(0, 0.3, pre.size)))
    post = np.flatnonzero(rng.random(n) < np.clip(propensity * (1 + lift), 0, 1))
    parts.append(("purchase", post, first[post] + np.floor(rng.uniform(0, 3 * _DAY_US, post.size)),
                  value_mean[post] * rng.lognormal(0, 0.3, post.size)))
    everyone = np.arange(n)
    latency = rng.normal(effects.latency_ms * (1 + latency_lift), effects.latency_sd_ms)
    parts.append(("page_load", everyone, first + np.floor(rng.uniform(0, 3_600e6, n)),
                  np.maximum(latency, 1.0)))
    events = _events(parts, exposed["unit_id"], prefix=f"demo-{experiment.key}")
    return assigned, exposures, events


def _events(parts: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], unit_ids: pl.Series,
            *, prefix: str) -> pl.DataFrame:
    frames = []
    for i, (name, idx, at, value) in enumerate(parts):
        frames.append(pl.DataFrame({
            "event_id": [f"{prefix}-{i}-{j}" for j in range(idx.size)],
            "unit_type": "user", "unit_id": unit_ids.gather(idx), "name": name,
            "value": pl.Series(value, dtype=pl.Float64), "occurred_at": _ts(at),
            "properties": pl.Series([None] * idx.size, dtype=pl.String),
        }))
    return pl.concat(frames).cast(dict(EVENT_SCHEMA))  # type: ignore[arg-type]


def rollout_minute(
    flags: FlagEvaluator,
    rollout_key: str,
    flag_key: str,
    *,
    minute_start: datetime,
    units: int,
    error_rate: dict[Any, float],
    config_version: int,
    rng: np.random.Generator,
    offset: int,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One simulated minute of checkout traffic behind a rolled-out flag.

    Each new user's flag value comes from the snapshot's ``FlagEvaluator``, which also
    names the exposure to log (under the rollout key, as the API logs it); a
    ``checkout_error`` event follows with ``error_rate[variation]``.

    Args:
        flags: The current snapshot's flag evaluator.
        rollout_key: Rollout key (the exposures' ``experiment``).
        flag_key: The rolled-out flag.
        minute_start: Start of the minute.
        units: New users in the minute.
        error_rate: Variation → probability of a checkout error.
        config_version: Version written on the exposures.
        rng: Random generator.
        offset: Index of the first user (ids ``shopper-{offset}...``).

    Returns:
        ``(exposures, events)`` in the contract schemas.
    """
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    seconds = rng.uniform(0, 59, units)
    for i in range(units):
        unit = f"shopper-{offset + i:07d}"
        at = minute_start + timedelta(seconds=float(seconds[i]))
        evaluation = flags.evaluate(flag_key, unit, {}, at)
        served = evaluation.variation or "off"
        # The evaluator names the exposure to log (rollout key, step as phase), exactly
        # as the API logs it for real traffic.
        logged = evaluation.decision
        if logged is not None and logged.experiment == rollout_key and logged.variant:
            rows.append({"exposure_id": exposure_id(logged.experiment, logged.phase, "user", unit),
                         "experiment": logged.experiment, "variant": logged.variant,
                         "phase": logged.phase, "unit_type": "user", "unit_id": unit,
                         "config_version": config_version, "exposed_at": at})
        if rng.random() < error_rate.get(served, 0.0):
            errors.append({"event_id": f"demo-err-{unit}", "unit_type": "user", "unit_id": unit,
                           "name": "checkout_error", "value": None,
                           "occurred_at": at + timedelta(milliseconds=500), "properties": None})
    return (pl.DataFrame(rows, schema=EXPOSURE_SCHEMA),
            pl.DataFrame(errors, schema=EVENT_SCHEMA))
