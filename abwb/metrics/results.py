"""Pipeline outputs: per-variant statistics, data-quality findings, assignment audit.

What belongs here: the frozen result objects the metric pipeline returns and the
conversion from the engines' long statistics frame into
:class:`~abwb.stats.summary.MeanStats` / :class:`~abwb.stats.summary.RatioStats`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

import polars as pl

from abwb.metrics.plan import MetricPlan

if TYPE_CHECKING:
    from abwb.config.experiment import Experiment
from abwb.stats.srm import SrmResult, srm_test
from abwb.stats.summary import MeanStats, RatioStats

__all__ = [
    "STATS_SCHEMA",
    "AssignmentAudit",
    "AuditStatus",
    "DataQualityResult",
    "MetricResults",
    "VariantStats",
    "stats_from_frame",
    "variant_checks",
]

VariantStats = MeanStats | RatioStats
AuditStatus = Literal["ok", "mismatch", "not_auditable", "skipped"]

#: Columns of the long statistics frame both engines produce (one row per metric × variant).
STATS_SCHEMA = pl.Schema({
    "metric": pl.String,
    "variant": pl.String,
    "n": pl.Int64,
    "total": pl.Float64,
    "total_sq": pl.Float64,
    "covariate_total": pl.Float64,
    "covariate_total_sq": pl.Float64,
    "cross_total": pl.Float64,
    "den_total": pl.Float64,
    "den_total_sq": pl.Float64,
    "num_den_total": pl.Float64,
})


@dataclass(frozen=True, slots=True)
class AssignmentAudit:
    """Logged variants checked against the variants recomputed from the config.

    Args:
        status: ``ok`` (no mismatch), ``mismatch``, ``not_auditable`` (sticky
            experiment: the variant is not a function of the unit id) or ``skipped``
            (no experiment config given, or the logged phase differs from the config's).
        audited_units: Distinct (unit, logged variant) pairs checked.
        mismatches: Pairs whose logged variant differs from the recomputed one.
        outside_experiment: Pairs logged although the unit falls outside the
            experiment's traffic or layer range (included in ``mismatches``).
        excluded_overrides: Units skipped because an override forces their variant.
        mismatches_by_variant: Logged variant → mismatching pairs.
        examples: Up to 10 mismatching unit ids, for debugging.
        note: Why the audit was not run, or what the numbers mean.
    """

    status: AuditStatus
    audited_units: int = 0
    mismatches: int = 0
    outside_experiment: int = 0
    excluded_overrides: int = 0
    mismatches_by_variant: Mapping[str, int] = field(default_factory=dict)
    examples: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True, slots=True)
class DataQualityResult:
    """Data-quality findings of one pipeline pass.

    Args:
        experiment: Experiment key.
        phase: Phase analysed.
        exposures_per_variant: Exposure rows per logged variant.
        units_per_variant: Analysed units per variant (the SRM input).
        crossover_units: Units exposed to more than one variant.
        crossovers_excluded: Whether crossover units were left out of the analysis.
        events_before_exposure: Metric events of analysed units that happened before
            the unit's first exposure (expected for CUPED pre-periods; a large share
            for post-exposure-only events points at late exposure logging).
        missing_variants: Configured variants without any analysed unit.
        unknown_variants: Logged variants the config does not define.
        srm: Sample-ratio test of ``units_per_variant`` against the configured
            weights (``None`` without a config or with unknown/missing variants).
        audit: The assignment audit.
    """

    experiment: str
    phase: int
    exposures_per_variant: Mapping[str, int]
    units_per_variant: Mapping[str, int]
    crossover_units: int
    crossovers_excluded: bool
    events_before_exposure: int
    missing_variants: tuple[str, ...] = ()
    unknown_variants: tuple[str, ...] = ()
    srm: SrmResult | None = None
    audit: AssignmentAudit = field(default_factory=lambda: AssignmentAudit("skipped"))

    @property
    def srm_cause(self) -> str:
        """A short diagnosis when the SRM test alerts: assignment bug or logging loss.

        Returns:
            ``""`` without an SRM alert; otherwise ``assignment`` when the audit found
            mismatches, ``logging`` when it found none, ``unknown`` when not audited.
        """
        if self.srm is None or not self.srm.alert:
            return ""
        if self.audit.status == "mismatch":
            return "assignment"
        return "logging" if self.audit.status == "ok" else "unknown"


@dataclass(frozen=True, slots=True)
class MetricResults:
    """Per-variant sufficient statistics of every requested metric.

    Args:
        experiment: Experiment key.
        phase: Phase analysed.
        as_of: Data cut-off (exclusive), ``None`` for everything.
        engine: ``duckdb`` or ``polars``.
        variants: Variants with analysed units, sorted (control first when known).
        statistics: ``{metric_key: {variant: MeanStats | RatioStats}}``.
        quality: Data-quality findings from the same pass.
        units: The unit-level frame when requested (``keep_units=True``), else ``None``.
        notes: Caveats, e.g. CUPED ignored for a ratio metric.
    """

    experiment: str
    phase: int
    as_of: datetime | None
    engine: str
    variants: tuple[str, ...]
    statistics: Mapping[str, Mapping[str, VariantStats]]
    quality: DataQualityResult
    units: pl.DataFrame | None = None
    notes: tuple[str, ...] = ()

    def __getitem__(self, metric: str) -> Mapping[str, VariantStats]:
        return self.statistics[metric]

    def to_frame(self) -> pl.DataFrame:
        """The statistics as a long frame: metric × variant with every sum.

        Returns:
            A frame with :data:`STATS_SCHEMA` columns plus ``kind`` (``mean``/``ratio``).
        """
        rows = []
        for metric, per_variant in self.statistics.items():
            for variant, s in per_variant.items():
                rows.append(_row(metric, variant, s))
        schema = {**STATS_SCHEMA, "kind": pl.String()}
        return pl.DataFrame(rows, schema=schema, orient="row")


def _row(metric: str, variant: str, s: VariantStats) -> tuple[object, ...]:
    if isinstance(s, RatioStats):
        return (metric, variant, s.n, s.num_total, s.num_total_sq, None, None, None,
                s.den_total, s.den_total_sq, s.num_den_total, "ratio")
    return (metric, variant, s.n, s.total, s.total_sq, s.covariate_total, s.covariate_total_sq,
            s.cross_total, None, None, None, "mean")


def stats_from_frame(
    frame: pl.DataFrame, plans: list[MetricPlan], variants: tuple[str, ...]
) -> dict[str, dict[str, VariantStats]]:
    """Turn the engines' long statistics frame into statistic objects.

    Every variant gets an entry for every metric, with ``n == 0`` where no unit
    contributed (so a readout shows the empty arm instead of dropping it).

    Args:
        frame: Rows with :data:`STATS_SCHEMA` columns.
        plans: The metric plans (order and kinds).
        variants: Variants to report.

    Returns:
        ``{metric_key: {variant: stats}}``.
    """
    by_key = {(r["metric"], r["variant"]): r for r in frame.iter_rows(named=True)}
    out: dict[str, dict[str, VariantStats]] = {}
    for plan in plans:
        per_variant: dict[str, VariantStats] = {}
        for variant in variants:
            r = by_key.get((plan.key, variant))
            per_variant[variant] = _stats(plan, r)
        out[plan.key] = per_variant
    return out


def _f(row: Mapping[str, object] | None, name: str) -> float:
    value = None if row is None else row[name]
    return 0.0 if value is None else float(value)  # type: ignore[arg-type]


def _stats(plan: MetricPlan, r: Mapping[str, object] | None) -> VariantStats:
    n = 0 if r is None or r["n"] is None else int(r["n"])  # type: ignore[call-overload]
    if plan.is_ratio:
        return RatioStats(n=n, num_total=_f(r, "total"), num_total_sq=_f(r, "total_sq"),
                          den_total=_f(r, "den_total"), den_total_sq=_f(r, "den_total_sq"),
                          num_den_total=_f(r, "num_den_total"))
    has_cov = plan.covariate is not None
    return MeanStats(
        n=n, total=_f(r, "total"), total_sq=_f(r, "total_sq"),
        covariate_total=_f(r, "covariate_total") if has_cov else 0.0,
        covariate_total_sq=_f(r, "covariate_total_sq") if has_cov else 0.0,
        cross_total=_f(r, "cross_total") if has_cov else 0.0,
        has_covariate=has_cov,
    )


def variant_checks(
    config: Experiment | None,
    exposures_per_variant: Mapping[str, int],
    units_per_variant: Mapping[str, int],
) -> tuple[tuple[str, ...], tuple[str, ...], SrmResult | None]:
    """Missing variants, unknown variants and the SRM test against the config's weights.

    Args:
        config: The experiment config (``None``: nothing to check against).
        exposures_per_variant: Exposure rows per logged variant.
        units_per_variant: Analysed units per variant.

    Returns:
        ``(missing, unknown, srm)``; SRM is ``None`` with unknown variants, fewer than
        two weighted variants or no units.
    """
    if config is None:
        return (), (), None
    names = [v.key for v in config.variants]
    logged = set(exposures_per_variant) | set(units_per_variant)
    missing = tuple(n for n in names if units_per_variant.get(n, 0) == 0)
    unknown = tuple(sorted(logged - set(names)))
    weights = {v.key: v.weight for v in config.variants if v.weight > 0}
    counts = {k: int(units_per_variant.get(k, 0)) for k in weights}
    srm = None
    if not unknown and len(weights) >= 2 and sum(counts.values()) > 0:
        srm = srm_test(counts, weights)
    return missing, unknown, srm
