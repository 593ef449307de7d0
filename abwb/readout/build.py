"""The readout use case: from stores and parameters to a :class:`ReadoutResult`.

What belongs here: :func:`build_readout` (read the experiment, its metric
definitions and its exposures/events from the stores, reduce them to per-variant
statistics, run the quality checks, the comparisons and the decision) and
:func:`assemble_readout`, its pure second half that takes statistics already
computed. The metric reduction is a port, :class:`MetricPipeline`, so the
readout runs on whichever pipeline the workspace provides.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

import polars as pl

from abwb.config.experiment import Experiment
from abwb.config.metric import MetricDefinition
from abwb.errors import InvalidInput, NotFound
from abwb.readout.analysis import MetricData, compare_metrics, lift_over_time
from abwb.readout.decision import decide
from abwb.readout.model import (
    Engine,
    ExperimentFacts,
    MetricRole,
    ReadoutParameters,
    ReadoutQuality,
    ReadoutResult,
    VariantFacts,
)
from abwb.readout.quality import assess_quality
from abwb.stats.config import AnalysisConfig
from abwb.store.protocol import ConfigStore, EventStore

__all__ = ["MetricPipeline", "analysed_units", "assemble_readout", "build_readout", "window_end"]


class MetricPipeline(Protocol):
    """Reduces units and events to per-variant statistics for one metric."""

    def __call__(
        self,
        units: pl.DataFrame,
        events: pl.DataFrame,
        definition: MetricDefinition,
        *,
        days: Sequence[date],
        until: datetime,
    ) -> MetricData:
        """Statistics over the window and cumulative per day.

        Args:
            units: One row per unit: ``unit_id``, ``variant``, ``first_exposed_at``.
            events: Events frame (``EVENT_SCHEMA``) before ``until``.
            definition: The metric.
            days: Days (UTC) to give cumulative statistics for.
            until: End of the readout window (exclusive).
        """
        ...


def window_end(as_of: date) -> datetime:
    """The exclusive end of a readout window: midnight UTC after ``as_of``.

    Examples:
        >>> window_end(date(2026, 6, 1)).isoformat()
        '2026-06-02T00:00:00+00:00'
    """
    return datetime.combine(as_of + timedelta(days=1), time(0), tzinfo=UTC)


def analysed_units(exposures: pl.DataFrame, experiment: Experiment) -> pl.DataFrame:
    """One row per unit of the current phase: its variant and first exposure.

    Units exposed to more than one variant (crossovers) are dropped: their
    outcome cannot be attributed to either arm.

    Args:
        exposures: Exposures frame (``EXPOSURE_SCHEMA``).
        experiment: The experiment (phase, unit type).

    Returns:
        ``unit_id``, ``variant``, ``first_exposed_at``.
    """
    phase = exposures.filter(
        (pl.col("phase") == experiment.phase) & (pl.col("unit_type") == experiment.unit_type)
    )
    per_unit = phase.group_by("unit_id").agg(
        pl.col("variant").first(),
        pl.col("variant").n_unique().alias("n_variants"),
        pl.col("exposed_at").min().alias("first_exposed_at"),
    )
    return per_unit.filter(pl.col("n_variants") == 1).drop("n_variants").sort("unit_id")


def _roles(experiment: Experiment, metrics: Sequence[str] | None) -> list[tuple[str, MetricRole]]:
    m = experiment.metrics
    roles: list[tuple[str, MetricRole]] = [
        *((k, "primary") for k in m.primary),
        *((k, "secondary") for k in m.secondary),
        *((k, "guardrail") for k in m.guardrails),
    ]
    if metrics is None:
        return roles
    known = dict(roles)
    return [(k, known.get(k, "primary" if i == 0 else "secondary")) for i, k in enumerate(metrics)]


def assemble_readout(
    experiment: Experiment,
    metrics: Sequence[MetricData],
    quality: ReadoutQuality,
    *,
    units: pl.DataFrame,
    as_of: date,
    engine: Engine = "frequentist",
    alpha: float = 0.05,
    config_version: int = 0,
) -> ReadoutResult:
    """The pure half of a readout: statistics in, facts + results + decision out.

    Args:
        experiment: The experiment.
        metrics: Per-metric statistics (primary first).
        quality: Data-quality section.
        units: Analysed units (``unit_id``, ``variant``, ``first_exposed_at``).
        as_of: Last day of data.
        engine: Statistics engine.
        alpha: Significance level.
        config_version: The workspace config version read.

    Returns:
        The readout.
    """
    config = AnalysisConfig(alpha=alpha)
    control = experiment.control.key
    treatments = [v.key for v in experiment.variants if not v.is_control]
    results = compare_metrics(metrics, control=control, variants=treatments, engine=engine,
                              config=config)
    over_time = lift_over_time(metrics, control=control, variants=treatments, engine=engine,
                               config=config)
    counts = dict(units.group_by("variant").len().iter_rows()) if units.height else {}
    first = units["first_exposed_at"].min() if units.height else None
    last = units["first_exposed_at"].max() if units.height else None
    roles = {m.definition.key: m.role for m in metrics}
    facts = ExperimentFacts(
        key=experiment.key,
        name=experiment.name,
        hypothesis=experiment.hypothesis,
        owner=experiment.owner,
        status=experiment.status,
        phase=experiment.phase,
        unit_type=experiment.unit_type,
        traffic_fraction=experiment.traffic_fraction,
        experiment_version=experiment.version,
        config_version=config_version,
        variants=tuple(
            VariantFacts(v.key, v.weight, v.is_control, int(counts.get(v.key, 0)))
            for v in experiment.variants
        ),
        primary_metrics=tuple(k for k, r in roles.items() if r == "primary"),
        secondary_metrics=tuple(k for k, r in roles.items() if r == "secondary"),
        guardrail_metrics=tuple(k for k, r in roles.items() if r == "guardrail"),
        first_exposure_at=first,  # type: ignore[arg-type]
        last_exposure_at=last,  # type: ignore[arg-type]
        as_of=as_of,
        engine=engine,
        alpha=alpha,
    )
    return ReadoutResult(
        facts=facts,
        quality=quality,
        results=results,
        over_time=over_time,
        decision=decide(results, quality),
        metric_names={m.definition.key: m.definition.name or m.definition.key for m in metrics},
    )


def build_readout(
    stores: tuple[ConfigStore, EventStore],
    experiment_key: str,
    *,
    as_of: date | str | None = None,
    engine: str = "frequentist",
    alpha: float = 0.05,
    metrics: Sequence[str] | str | None = None,
    segments: Sequence[str] | str | None = None,
    pipeline: MetricPipeline | None = None,
    today: date | None = None,
) -> ReadoutResult:
    """Read out one experiment from the stores.

    Args:
        stores: ``(config_store, event_store)``, e.g. from ``abwb.store.open_stores``.
        experiment_key: Experiment to read out.
        as_of: Last day (UTC) of data, ISO string or date; default ``today``.
        engine: ``frequentist``, ``sequential`` or ``bayesian``.
        alpha: Significance level.
        metrics: Metric keys to analyse; default the experiment's own.
        segments: Reserved for segment breakdowns; must be empty.
        pipeline: Metric reduction; default :func:`abwb.readout.pipeline.default_pipeline`.
        today: The current date when ``as_of`` is not given (the caller's clock).

    Returns:
        The readout.

    Raises:
        InvalidInput: A bad parameter, or a metric that is not defined.
        NotFound: No experiment ``experiment_key``.
        StorageError: The store failed.
    """
    params = ReadoutParameters.from_values(
        experiment_key=experiment_key, as_of=as_of, alpha=alpha, engine=engine,
        metrics=metrics, segments=segments,
    )
    config_store, event_store = stores
    try:
        experiment: Experiment = config_store.get("experiment", params.experiment_key)
    except NotFound:
        known = [e.key for e in config_store.list("experiment", limit=1000)]
        raise NotFound(
            f"experiment_key: no experiment {params.experiment_key!r}; known experiments: "
            f"{', '.join(known) or 'none'}"
        ) from None
    bundle = config_store.load_bundle()
    definitions = {m.key: m for m in bundle.metrics}
    roles = _roles(experiment, params.metrics)
    missing = [k for k, _ in roles if k not in definitions]
    if missing:
        raise InvalidInput(
            f"unknown metric(s) {missing}; defined metrics: {sorted(definitions)}",
            path="metrics",
        )
    as_of_day = params.as_of or today or datetime.now(UTC).date()
    until = window_end(as_of_day)
    exposures = event_store.read_exposures(experiment=experiment.key, until=until)
    units = analysed_units(exposures, experiment)
    events = event_store.read_events(
        names=sorted(_event_names(definitions[k] for k, _ in roles)), until=until
    )
    first = units["first_exposed_at"].min() if units.height else None
    days = _days(first.date() if first is not None else as_of_day, as_of_day)  # type: ignore[union-attr]
    if pipeline is None:
        from abwb.readout.pipeline import default_pipeline

        pipeline = default_pipeline
    metric_data = []
    for key, role in roles:
        data = pipeline(units, events, definitions[key], days=days, until=until)
        metric_data.append(MetricData(data.definition, role, data.stats, data.daily))
    quality = assess_quality(exposures, units, experiment, bundle, now=until - timedelta(seconds=1))
    return assemble_readout(
        experiment, metric_data, quality, units=units, as_of=as_of_day, engine=params.engine,
        alpha=params.alpha, config_version=bundle.version,
    )


def _event_names(definitions: object) -> set[str]:
    names: set[str] = set()
    for d in definitions:  # type: ignore[attr-defined]
        names.update(n for n in (d.event, d.numerator_event, d.denominator_event) if n)
    return names


def _days(first: date, last: date) -> list[date]:
    if first > last:
        return []
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
