"""Metric pipeline use cases: statistics of an experiment, daily cumulative statistics.

What belongs here: the orchestration a readout calls — validate the request, pick
the engine, resolve the phase, run one pass, assemble statistics, data quality and
the assignment audit. SQL lives in :mod:`abwb.metrics.duckdb_engine`, polars
expressions in :mod:`abwb.metrics.polars_engine`, metric semantics in
:mod:`abwb.metrics.plan`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import polars as pl

from abwb.config.experiment import Experiment
from abwb.config.metric import MetricDefinition
from abwb.errors import InvalidInput
from abwb.metrics.audit import audit_assignments
from abwb.metrics.duckdb_engine import DuckDBEngine
from abwb.metrics.engine import (
    CrossoverPolicy,
    EngineOutput,
    PipelineEngine,
    PipelineRequest,
    public_units,
)
from abwb.metrics.inputs import FrameSource, prepare_events, prepare_exposures, read_store_frames
from abwb.metrics.plan import MetricPlan, plan_metrics
from abwb.metrics.polars_engine import PolarsEngine
from abwb.metrics.results import (
    STATS_SCHEMA,
    AssignmentAudit,
    DataQualityResult,
    MetricResults,
    stats_from_frame,
    variant_checks,
)
from abwb.metrics.sql_engine import SqlEngine
from abwb.metrics.warehouse import WarehouseSource, open_engine

#: Columns of :func:`unit_days`: analysed units per variant and UTC day of first exposure.
UNIT_DAYS_SCHEMA = pl.Schema({
    "date": pl.Date(),
    "variant": pl.String(),
    "units": pl.Int64(),
    "first_exposed_at": pl.Datetime("us", "UTC"),
    "last_exposed_at": pl.Datetime("us", "UTC"),
})

__all__ = [
    "UNIT_DAYS_SCHEMA",
    "EngineName",
    "compute_statistics",
    "daily_cumulative_statistics",
    "statistics_from_store",
    "unit_days",
]

EngineName = Literal["duckdb", "polars", "postgres", "spark"]
_ENGINES = ("duckdb", "polars", "postgres", "spark")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(at: datetime) -> int:
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _check_options(engine: str, crossovers: str, as_of: datetime | None) -> None:
    if engine not in _ENGINES:
        raise InvalidInput(f"expected one of {list(_ENGINES)}, got {engine!r}", path="engine")
    if crossovers not in ("exclude", "first"):
        raise InvalidInput(f"expected 'exclude' or 'first', got {crossovers!r}",
                           path="crossovers")
    if as_of is not None and (as_of.tzinfo is None or as_of.utcoffset() is None):
        raise InvalidInput(f"must be timezone-aware, got naive {as_of.isoformat()}",
                           path="as_of")


def _experiment(experiment: str | Experiment) -> tuple[str, Experiment | None]:
    if isinstance(experiment, Experiment):
        return experiment.key, experiment
    if isinstance(experiment, str) and experiment:
        return experiment, None
    raise InvalidInput(f"expected an experiment key or Experiment, got {experiment!r}",
                       path="experiment")


def _open(exposures: FrameSource, events: FrameSource, plans: list[MetricPlan],
          engine: str) -> PipelineEngine:
    if isinstance(exposures, WarehouseSource):
        if events is not None and events is not exposures:
            raise InvalidInput("must be None when exposures is a WarehouseSource (the events "
                               "are in the same warehouse)", path="events")
        if engine not in ("duckdb", exposures.engine):
            raise InvalidInput(f"the warehouse source is a {exposures.engine} connection, "
                               f"got engine={engine!r}", path="engine")
        return open_engine(exposures)
    if engine in ("postgres", "spark"):
        raise InvalidInput(f"engine {engine!r} runs where the data is: pass a "
                           "WarehouseSource as exposures (and events=None)", path="engine")
    exp_src = prepare_exposures(exposures)
    ev_src = prepare_events(events, plans)
    return DuckDBEngine(exp_src, ev_src) if engine == "duckdb" else PolarsEngine(exp_src, ev_src)


class _Session:
    """Validated request + open engine, shared by the single and the daily use case."""

    def __init__(
        self,
        exposures: FrameSource,
        events: FrameSource,
        metrics: Sequence[MetricDefinition | str],
        *,
        experiment: str | Experiment,
        catalog: Sequence[MetricDefinition],
        engine: str,
        crossovers: str,
        as_of: datetime | None,
        phase: int | None,
        counts_only: bool = False,
    ) -> None:
        _check_options(engine, crossovers, as_of)
        self.key, self.config = _experiment(experiment)
        self.plans = [] if counts_only else plan_metrics(metrics, catalog=catalog)
        self.crossovers: CrossoverPolicy = crossovers  # type: ignore[assignment]
        self.engine: PipelineEngine = _open(exposures, events, self.plans, engine)
        try:
            self.phase = self._phase(phase)
        except BaseException:
            self.engine.close()
            raise

    def _phase(self, phase: int | None) -> int:
        if phase is not None:
            if isinstance(phase, bool) or not isinstance(phase, int) or phase < 1:
                raise InvalidInput(f"expected an int >= 1, got {phase!r}", path="phase")
            return phase
        if self.config is not None:
            return self.config.phase
        return self.engine.latest_phase(self.key) or 1

    def run(self, as_of_us: int | None, *, keep_units: bool, audit: bool,
            layer_salts: Mapping[str, str] | None = None) -> EngineOutput:
        # SQL engines audit where the data is (only counts come back); polars audits
        # the distinct (unit, variant) pairs it returns.
        in_engine = audit and self.config is not None and self.engine.name != "polars"
        layer_salt = None
        if self.config is not None and self.config.layer is not None and layer_salts:
            layer_salt = layer_salts.get(self.config.layer.layer)
        return self.engine.run(PipelineRequest(
            experiment=self.key, phase=self.phase, plans=self.plans, as_of_us=as_of_us,
            crossovers=self.crossovers, keep_units=keep_units,
            keep_pairs=audit and not in_engine,
            audit=self.config if in_engine else None, layer_salt=layer_salt))

    def variants(self, out: EngineOutput) -> tuple[str, ...]:
        logged = set(out.units_per_variant) | set(out.exposures_per_variant)
        if self.config is None:
            return tuple(sorted(logged))
        configured = sorted(self.config.variants, key=lambda v: not v.is_control)
        names = [v.key for v in configured]
        return (*names, *sorted(logged - set(names)))

    def notes(self) -> tuple[str, ...]:
        return tuple(
            f"{p.key}: cuped_window_s is ignored for ratio metrics (RatioStats has no covariate)"
            for p in self.plans if p.cuped_ignored
        )

    def close(self) -> None:
        self.engine.close()


def _quality(
    session: _Session, out: EngineOutput, audit: AssignmentAudit
) -> DataQualityResult:
    missing, unknown, srm = variant_checks(session.config, out.exposures_per_variant,
                                           out.units_per_variant)
    return DataQualityResult(
        experiment=session.key, phase=session.phase,
        exposures_per_variant=dict(out.exposures_per_variant),
        units_per_variant=dict(out.units_per_variant),
        crossover_units=out.crossover_units,
        crossovers_excluded=session.crossovers == "exclude",
        events_before_exposure=out.events_before_exposure,
        missing_variants=missing, unknown_variants=unknown, srm=srm, audit=audit,
    )


def compute_statistics(
    exposures: FrameSource,
    events: FrameSource,
    metrics: Sequence[MetricDefinition | str],
    *,
    experiment: str | Experiment,
    catalog: Sequence[MetricDefinition] = (),
    phase: int | None = None,
    as_of: datetime | None = None,
    engine: EngineName = "duckdb",
    crossovers: CrossoverPolicy = "exclude",
    keep_units: bool = False,
    layer_salts: Mapping[str, str] | None = None,
) -> MetricResults:
    """Per-variant sufficient statistics of metrics, with data quality and an audit.

    Exposures → first exposure per unit (units seen in several variants are counted
    and, by default, excluded) → the metrics' events inside each window → one row
    per unit → ``MeanStats`` (with CUPED covariate sums) or ``RatioStats`` per variant.

    Args:
        exposures: Exposures (frame, Arrow table or Parquet path/glob) in the contract
            schema; other experiments' rows are ignored. Or a
            :class:`~abwb.metrics.warehouse.WarehouseSource`: the pipeline then runs as
            SQL in that warehouse (PostgreSQL, Spark, DuckDB) and only per-variant
            aggregates come back.
        events: Events in the contract schema (any tz-aware timestamps); ``None`` with
            a warehouse source.
        metrics: ``MetricDefinition`` s, or keys looked up in ``catalog``.
        experiment: Experiment key, or its config (enables missing-variant detection,
            the SRM test and the assignment audit).
        catalog: Known metric definitions (e.g. ``bundle.metrics``).
        phase: Phase to analyse; default: the config's phase, else the latest logged.
        as_of: Exclusive data cut-off (timezone-aware); default: all data.
        engine: ``duckdb`` (default) or ``polars`` for frames; with a warehouse source
            its own engine (``postgres``, ``spark``); all give the same statistics.
        crossovers: ``exclude`` (default) or ``first`` (keep the first variant).
        keep_units: Also return the unit-level frame (``MetricResults.units``).
        layer_salts: Layer key → salt, for the audit of layers with a custom salt.

    Returns:
        The statistics, data quality and (with a config) the assignment audit.

    Raises:
        InvalidInput: missing columns, wrong dtypes, naive timestamps, unknown metric,
            bad option — each naming the column, metric or option.

    Examples:
        >>> from datetime import UTC, datetime
        >>> import polars as pl
        >>> from abwb.config import MetricDefinition
        >>> from abwb.events import EVENT_SCHEMA, EXPOSURE_SCHEMA
        >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
        >>> exposures = pl.DataFrame({"exposure_id": ["a", "b"], "experiment": ["e", "e"],
        ...     "variant": ["control", "treatment"], "phase": [1, 1],
        ...     "unit_type": ["user", "user"], "unit_id": ["u1", "u2"],
        ...     "config_version": [1, 1], "exposed_at": [t0, t0]}, schema=EXPOSURE_SCHEMA)
        >>> events = pl.DataFrame({"event_id": ["x"], "unit_type": ["user"],
        ...     "unit_id": ["u2"], "name": ["buy"], "value": [5.0], "occurred_at": [t0],
        ...     "properties": [None]}, schema=EVENT_SCHEMA)
        >>> m = MetricDefinition(key="buyers", kind="binomial", event="buy")
        >>> r = compute_statistics(exposures, events, [m], experiment="e")
        >>> r["buyers"]["treatment"].mean, r["buyers"]["control"].mean
        (1.0, 0.0)
    """
    session = _Session(exposures, events, metrics, experiment=experiment, catalog=catalog,
                       engine=engine, crossovers=crossovers, as_of=as_of, phase=phase)
    try:
        as_of_us = None if as_of is None else _micros(as_of)
        out = session.run(as_of_us, keep_units=keep_units, audit=session.config is not None,
                          layer_salts=layer_salts)
    finally:
        session.close()
    audit = AssignmentAudit("skipped", note="no experiment config given")
    if out.audit is not None:
        audit = out.audit
    elif session.config is not None and out.pairs is not None:
        audit = audit_assignments(out.pairs, session.config, phase=session.phase,
                                  layer_salts=layer_salts)
    variants = session.variants(out)
    return MetricResults(
        experiment=session.key, phase=session.phase, as_of=as_of, engine=session.engine.name,
        variants=variants,
        statistics=stats_from_frame(out.stats, session.plans, variants),
        quality=_quality(session, out, audit),
        units=None if out.units is None else public_units(out.units, session.plans),
        notes=session.notes(),
    )


def daily_cumulative_statistics(
    exposures: FrameSource,
    events: FrameSource,
    metrics: Sequence[MetricDefinition | str],
    *,
    experiment: str | Experiment,
    catalog: Sequence[MetricDefinition] = (),
    phase: int | None = None,
    as_of: datetime | None = None,
    engine: EngineName = "duckdb",
    crossovers: CrossoverPolicy = "exclude",
) -> pl.DataFrame:
    """Cumulative statistics at the end of every UTC day, for lift-over-time plots.

    Day ``d``'s row is exactly what :func:`compute_statistics` returns with
    ``as_of`` = midnight UTC after ``d`` (units exposed and events seen by then), so
    the last day equals the final readout.

    Args:
        exposures: Exposures source (see :func:`compute_statistics`).
        events: Events source.
        metrics: Definitions or keys in ``catalog``.
        experiment: Experiment key or config.
        catalog: Known metric definitions.
        phase: Phase to analyse.
        as_of: Last cut-off; default: the end of the last day with data.
        engine: ``duckdb`` or ``polars``.
        crossovers: ``exclude`` or ``first``.

    Returns:
        A frame ``day`` (Date) × ``metric`` × ``variant`` with ``kind``, every
        sufficient-statistic column of :data:`~abwb.metrics.results.STATS_SCHEMA`
        (``total`` is Σnumerator for ratios) and ``value`` (mean or ratio).

    Raises:
        InvalidInput: as :func:`compute_statistics`.
    """
    session = _Session(exposures, events, metrics, experiment=experiment, catalog=catalog,
                       engine=engine, crossovers=crossovers, as_of=as_of, phase=phase)
    frames: list[pl.DataFrame] = []
    try:
        span = session.engine.data_span_us(session.key)
        if span is not None:
            for day, cut_us in _days(span, as_of):
                out = session.run(cut_us, keep_units=False, audit=False)
                stats = stats_from_frame(out.stats, session.plans, session.variants(out))
                frames.append(MetricResults(
                    experiment=session.key, phase=session.phase, as_of=None,
                    engine=session.engine.name, variants=(), statistics=stats,
                    quality=_quality(session, out, AssignmentAudit("skipped")),
                ).to_frame().with_columns(pl.lit(day).alias("day")))
    finally:
        session.close()
    schema: dict[str, Any] = {"day": pl.Date, **STATS_SCHEMA, "kind": pl.String}
    if not frames:
        return pl.DataFrame(schema=schema).with_columns(pl.lit(None, pl.Float64).alias("value"))
    result = pl.concat(frames).select(list(schema))
    value = pl.when(pl.col("kind") == "ratio").then(
        pl.col("total") / pl.when(pl.col("den_total") != 0).then(pl.col("den_total"))
    ).otherwise(pl.col("total") / pl.when(pl.col("n") > 0).then(pl.col("n")))
    return result.with_columns(value.alias("value"))


def unit_days(
    exposures: FrameSource,
    events: FrameSource,
    *,
    experiment: str | Experiment,
    phase: int | None = None,
    as_of: datetime | None = None,
    engine: EngineName = "duckdb",
    crossovers: CrossoverPolicy = "exclude",
) -> pl.DataFrame:
    """Analysed units per variant and UTC day of first exposure, counted in the engine.

    The units are those :func:`compute_statistics` analyses with the same options
    (crossovers excluded or kept by first exposure). SQL engines (DuckDB, PostgreSQL,
    Spark) return O(variants x days) rows, never one row per unit; the polars
    reference engine aggregates its unit frame in process.

    Args:
        exposures: Exposures source (see :func:`compute_statistics`).
        events: Events source (unused by the count, checked like there).
        experiment: Experiment key or config.
        phase: Phase to analyse.
        as_of: Exclusive data cut-off.
        engine: As :func:`compute_statistics`.
        crossovers: ``exclude`` or ``first``.

    Returns:
        A frame with columns :data:`UNIT_DAYS_SCHEMA`, sorted by variant and date.

    Raises:
        InvalidInput: as :func:`compute_statistics`.
    """
    session = _Session(exposures, events, [], experiment=experiment, catalog=(),
                       engine=engine, crossovers=crossovers, as_of=as_of, phase=phase,
                       counts_only=True)
    try:
        request = PipelineRequest(
            experiment=session.key, phase=session.phase, plans=[],
            as_of_us=None if as_of is None else _micros(as_of), crossovers=session.crossovers,
            keep_units=True, keep_pairs=False, audit=None, layer_salt=None)
        if isinstance(session.engine, SqlEngine):
            rows = pl.DataFrame(session.engine.unit_days(request), orient="row", schema={
                "variant": pl.String, "day": pl.Int64, "units": pl.Int64,
                "first_t": pl.Int64, "last_t": pl.Int64})
        else:
            units = session.engine.run(request).units
            assert units is not None  # keep_units=True
            day = (pl.col("first_t") // 86_400_000_000).alias("day")
            rows = units.group_by("variant", day).agg(
                pl.len().cast(pl.Int64).alias("units"), pl.col("first_t").min(),
                pl.col("first_t").max().alias("last_t"))
    finally:
        session.close()

    def instant(column: str) -> pl.Expr:
        return pl.col(column).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")

    return rows.select(
        pl.col("day").cast(pl.Int32).cast(pl.Date).alias("date"), pl.col("variant"),
        pl.col("units").cast(pl.Int64), instant("first_t").alias("first_exposed_at"),
        instant("last_t").alias("last_exposed_at"),
    ).sort("variant", "date")


def _days(span: tuple[int, int], as_of: datetime | None) -> list[tuple[date, int]]:
    first = (_EPOCH + timedelta(microseconds=span[0])).date()
    last_at = _EPOCH + timedelta(microseconds=span[1])
    if as_of is not None:
        last_at = min(last_at, as_of.astimezone(UTC) - timedelta(microseconds=1))
    days = []
    day = first
    while day <= last_at.date():
        end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
        cut = _micros(end if as_of is None else min(end, as_of))
        days.append((day, cut))
        day += timedelta(days=1)
    return days


def statistics_from_store(
    store: Any,
    metrics: Sequence[MetricDefinition | str],
    *,
    experiment: str | Experiment,
    catalog: Sequence[MetricDefinition] = (),
    as_of: datetime | None = None,
    **options: Any,
) -> MetricResults:
    """:func:`compute_statistics` over an ``EventStore`` (SQLite, PostgreSQL, memory).

    Reads only the experiment's exposures and the metrics' events (up to ``as_of``).

    Args:
        store: Any :class:`abwb.store.protocol.EventStore`.
        metrics: Definitions or keys in ``catalog``.
        experiment: Experiment key or config.
        catalog: Known metric definitions.
        as_of: Exclusive data cut-off.
        **options: Further keyword arguments of :func:`compute_statistics`.

    Returns:
        As :func:`compute_statistics`.
    """
    key, _ = _experiment(experiment)
    _check_options(options.get("engine", "duckdb"), options.get("crossovers", "exclude"), as_of)
    plans = plan_metrics(metrics, catalog=catalog)
    exposures, events = read_store_frames(store, experiment=key, plans=plans, until=as_of)
    return compute_statistics(exposures, events, metrics, experiment=experiment,
                              catalog=catalog, as_of=as_of, **options)
