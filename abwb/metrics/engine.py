"""The pipeline-engine port: what the DuckDB and polars implementations both provide.

What belongs here: the :class:`PipelineEngine` protocol, the :class:`PipelineRequest`
an engine runs, the :class:`EngineOutput` it returns, and the renaming of the
engines' internal unit-level columns (``m0_y``...) to public ones (``{metric}``,
``{metric}__pre``, ``{metric}__num``, ``{metric}__den``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

import polars as pl

from abwb.metrics.plan import MetricPlan
from abwb.metrics.results import AssignmentAudit

if TYPE_CHECKING:
    from abwb.config.experiment import Experiment

__all__ = [
    "CrossoverPolicy",
    "EngineOutput",
    "PipelineEngine",
    "PipelineRequest",
    "public_units",
]

#: ``exclude``: units seen in more than one variant are left out (default);
#: ``first``: they count in the variant of their first exposure.
CrossoverPolicy = Literal["exclude", "first"]


@dataclass(frozen=True, slots=True)
class PipelineRequest:
    """One pass of the pipeline.

    Args:
        experiment: Experiment key.
        phase: Phase to analyse.
        plans: Compiled metrics.
        as_of_us: Exclusive cut-off in UTC epoch microseconds, ``None`` for all data.
        crossovers: What to do with units seen in several variants.
        keep_units: Return the unit-level frame.
        keep_pairs: Return the distinct (unit, logged variant) pairs (for the audit).
        audit: Experiment config to audit inside the engine (SQL engines do; the
            others return ``pairs`` instead).
        layer_salt: The experiment's layer salt when it is not ``layer:{key}``.
    """

    experiment: str
    phase: int
    plans: Sequence[MetricPlan]
    as_of_us: int | None
    crossovers: CrossoverPolicy
    keep_units: bool
    keep_pairs: bool = False
    audit: Experiment | None = None
    layer_salt: str | None = None


@dataclass(frozen=True, slots=True)
class EngineOutput:
    """What an engine computed in one pass.

    Args:
        stats: Long statistics frame (:data:`abwb.metrics.results.STATS_SCHEMA`).
        units: Unit-level frame with internal column names, when requested.
        exposures_per_variant: Exposure rows per logged variant.
        units_per_variant: Analysed units per variant.
        crossover_units: Units exposed to more than one variant.
        events_before_exposure: Metric events of analysed units before first exposure.
        pairs: Distinct ``unit_type, unit_id, variant`` of the phase's exposures, when
            requested.
        audit: The assignment audit, when the engine ran it (``request.audit``).
    """

    stats: pl.DataFrame
    units: pl.DataFrame | None
    exposures_per_variant: Mapping[str, int]
    units_per_variant: Mapping[str, int]
    crossover_units: int
    events_before_exposure: int
    pairs: pl.DataFrame | None = None
    audit: AssignmentAudit | None = None


class PipelineEngine(Protocol):
    """A query engine that runs the metric pipeline over prepared sources."""

    name: str

    def latest_phase(self, experiment: str) -> int | None:
        """Highest phase with exposures of ``experiment`` (``None`` when it has none)."""
        ...

    def data_span_us(self, experiment: str) -> tuple[int, int] | None:
        """First exposure and last exposure-or-event instant, in epoch microseconds."""
        ...

    def run(self, request: PipelineRequest) -> EngineOutput:
        """Compute statistics and data-quality counts for one request."""
        ...

    def close(self) -> None:
        """Release the engine's resources."""
        ...


def public_units(units: pl.DataFrame, plans: Sequence[MetricPlan]) -> pl.DataFrame:
    """Rename an engine's unit-level frame to public column names.

    Args:
        units: Frame with ``unit_type``, ``unit_id``, ``variant``, ``first_t`` (epoch
            µs) and ``m{i}_{part}`` columns.
        plans: The metric plans.

    Returns:
        ``unit_type, unit_id, variant, first_exposed_at`` and, per metric, ``{key}``
        (or ``{key}__num``/``{key}__den`` for ratios) and ``{key}__pre`` with CUPED;
        sorted by unit.
    """
    names = {"y": "", "x": "__pre", "den": "__den"}
    exprs = [
        pl.col("unit_type"), pl.col("unit_id"), pl.col("variant"),
        pl.col("first_t").cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
        .alias("first_exposed_at"),
    ]
    for plan in plans:
        for part, _ in plan.parts():
            suffix = "__num" if plan.is_ratio and part == "y" else names[part]
            exprs.append(pl.col(plan.column(part)).alias(plan.key + suffix))
    return units.select(exprs).sort("unit_type", "unit_id")
