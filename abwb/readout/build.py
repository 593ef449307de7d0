"""The readout use case: from stores and parameters to a :class:`ReadoutResult`.

What belongs here: :func:`build_readout` (read the experiment and its metric
definitions, get per-variant statistics and data-quality findings from
:mod:`abwb.metrics` via :func:`abwb.readout.pipeline.readout_statistics`, run the
quality checks, the comparisons and the recommendation) and :func:`assemble_readout`, its
pure second half that takes statistics already computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

import polars as pl

from abwb import __version__
from abwb.config.experiment import Experiment
from abwb.errors import InvalidInput, NotFound
from abwb.metrics import WarehouseSource
from abwb.readout.analysis import MetricData, analyse_metrics, lift_over_time, results_frame
from abwb.readout.model import (
    Engine,
    ExperimentFacts,
    MetricRole,
    ReadoutParameters,
    ReadoutQuality,
    ReadoutResult,
    VariantFacts,
)
from abwb.readout.pipeline import readout_statistics
from abwb.readout.quality import assess_quality
from abwb.readout.recommendation import recommend
from abwb.stats.config import AnalysisConfig
from abwb.store.protocol import ConfigStore, EventStore

__all__ = ["assemble_readout", "build_readout", "last_complete_day", "window_end"]


def last_complete_day(today: date) -> date:
    """The default ``as_of``: the last complete UTC day before ``today``.

    ``abwb readout``, the demo and :func:`build_readout` all default to it, so a
    scheduled readout never analyses a partial day unless asked to (``as_of`` = today).

    Examples:
        >>> last_complete_day(date(2026, 6, 2)).isoformat()
        '2026-06-01'
    """
    return today - timedelta(days=1)


def window_end(as_of: date) -> datetime:
    """The exclusive end of a readout window: midnight UTC after ``as_of``.

    Examples:
        >>> window_end(date(2026, 6, 1)).isoformat()
        '2026-06-02T00:00:00+00:00'
    """
    return datetime.combine(as_of + timedelta(days=1), time(0), tzinfo=UTC)


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
    chosen = [(k, known.get(k, "primary" if i == 0 else "secondary"))
              for i, k in enumerate(metrics)]
    # A subset of metrics never drops a guardrail: the ship rule must see every guardrail
    # of the experiment, or a readout of "just the primary" could say ship while a
    # guardrail is harmed.
    chosen += [(k, "guardrail") for k in m.guardrails if k not in metrics]
    return chosen


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
    planned_n: int | None = None,
    computed_at: datetime | None = None,
) -> ReadoutResult:
    """The pure half of a readout: statistics in, facts + results + decision out.

    Args:
        experiment: The experiment.
        metrics: Per-metric statistics (primary first).
        quality: Data-quality section.
        units: Analysed units per variant and day (:data:`abwb.metrics.UNIT_DAYS_SCHEMA`).
        as_of: Last day of data.
        engine: Statistics engine.
        alpha: Significance level.
        config_version: The workspace config version read.
        planned_n: Planned total units tuning the sequential engine's confidence
            sequences (``None``: the units seen so far).
        computed_at: When the readout was computed (the caller's clock), for the report.

    Returns:
        The readout.
    """
    config = AnalysisConfig(alpha=alpha)
    control = experiment.control.key
    treatments = [v.key for v in experiment.variants if not v.is_control]
    table = analyse_metrics(metrics, control=control, variants=treatments, engine=engine,
                            config=config, planned_n=planned_n)
    results = results_frame(table, metrics)
    over_time = lift_over_time(metrics, control=control, variants=treatments, engine=engine,
                               config=config, planned_n=planned_n)
    counts = dict(units.group_by("variant").agg(pl.col("units").sum()).iter_rows()) \
        if units.height else {}
    first = units["first_exposed_at"].min() if units.height else None
    last = units["last_exposed_at"].max() if units.height else None
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
        decision=recommend(table, results, metrics, quality),
        metric_names={m.definition.key: m.definition.name or m.definition.key for m in metrics},
        computed_at=computed_at,
        abwb_version=__version__,
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
    today: date | None = None,
    warehouse: WarehouseSource | None = None,
) -> ReadoutResult:
    """Read out one experiment from the stores.

    Args:
        stores: ``(config_store, event_store)``, e.g. from ``abwb.store.open_stores``.
        experiment_key: Experiment to read out.
        as_of: Last day (UTC) of data, ISO string or date; default the last complete
            day (:func:`last_complete_day`). A day after ``today`` is refused.
        engine: ``frequentist``, ``sequential`` or ``bayesian``.
        alpha: Significance level.
        metrics: Metric keys to analyse; default the experiment's own.
        segments: Reserved for segment breakdowns; must be empty.
        today: The current date (the caller's clock; default the system clock, UTC).
        warehouse: Run the metric pipeline in this warehouse (its tables hold the
            exposures and events) instead of reading the event store; only aggregates
            come back. The config still comes from the config store.

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
    if not roles:
        raise InvalidInput(
            f"experiment {experiment.key!r} names no metrics; pass metric keys, defined "
            f"metrics: {sorted(definitions)}", path="metrics",
        )
    missing = [k for k, _ in roles if k not in definitions]
    if missing:
        raise InvalidInput(
            f"unknown metric(s) {missing}; defined metrics: {sorted(definitions)}",
            path="metrics",
        )
    now = datetime.now(UTC)
    current = today or now.date()
    if params.as_of is not None and params.as_of > current:
        raise InvalidInput(f"{params.as_of.isoformat()} is in the future (today is "
                           f"{current.isoformat()} UTC); no data can exist yet", path="as_of")
    as_of_day = params.as_of or last_complete_day(current)
    until = window_end(as_of_day)
    statistics = readout_statistics(
        event_store if warehouse is None else warehouse, experiment,
        [(definitions[k], role) for k, role in roles], until=until,
        layer_salts={layer.key: layer.effective_salt for layer in bundle.layers},
    )
    quality = assess_quality(statistics.quality, statistics.units, experiment)
    return assemble_readout(
        experiment, statistics.metrics, quality, units=statistics.units, as_of=as_of_day,
        engine=params.engine, alpha=params.alpha, config_version=bundle.version,
        computed_at=now,
    )
