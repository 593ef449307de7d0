"""The analysis entry point: analyse every metric × treatment of one experiment at once.

What belongs here: ``analyze`` (pick each metric's method from the registry in
:mod:`abwb.stats.methods` by its kind and the engine, label the results, apply the
multiple-testing correction across the whole family) and the ``AnalysisTable`` it
returns. The methods live in ``frequentist``, ``sequential`` and ``bayesian``; the
choice of method lives in ``methods``; this module only orchestrates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from abwb.config.metric import MetricKind
from abwb.errors import InvalidInput
from abwb.stats.config import AnalysisConfig
from abwb.stats.corrections import adjust_p_values
from abwb.stats.methods import METRIC_KINDS, Comparison, Engine, MethodOptions, compare
from abwb.stats.results import ComparisonResult
from abwb.stats.summary import MeanStats, RatioStats

if TYPE_CHECKING:
    import polars as pl

__all__ = ["CONCISE_COLUMNS", "AnalysisTable", "MetricKind", "analyze"]

#: Columns of :meth:`AnalysisTable.to_polars`'s default view (not a 29-column wall).
CONCISE_COLUMNS = ("metric", "treatment", "effect_abs", "ci_low", "ci_high", "effect_rel",
                   "ci_low_rel", "ci_high_rel", "p_value", "p_value_adjusted", "significant",
                   "chance_to_beat_control", "method", "status")

_DEFAULT = AnalysisConfig()


@dataclass(frozen=True, slots=True)
class AnalysisTable:
    """Results of ``analyze``: one result per metric × treatment.

    Attributes:
        results: Results in metric order, then treatment order: ``ComparisonResult``
            (frequentist, sequential, and ratio metrics under the Bayesian engine) or
            ``BayesResult``.
        config: The configuration used.
        engine: The engine used.
    """

    results: tuple[Comparison, ...]
    config: AnalysisConfig
    engine: Engine = "frequentist"

    def __iter__(self) -> Iterator[Comparison]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, index: int) -> Comparison:
        return self.results[index]

    def get(self, metric: str, treatment: str) -> Comparison:
        """Result for one metric and treatment.

        Args:
            metric: Metric name.
            treatment: Treatment variant name.

        Returns:
            The matching result.

        Raises:
            InvalidInput: No such metric/treatment pair.
        """
        for r in self.results:
            if r.metric == metric and r.treatment == treatment:
                return r
        raise InvalidInput(f"no result for metric {metric!r} and treatment {treatment!r}",
                           path="metric")

    def to_rows(self) -> list[dict[str, Any]]:
        """Results as a list of plain dicts (one per result, plus ``significant``).

        Returns:
            Rows with every field of the result; ``significant`` is the adjusted
            p-value below alpha (``None`` for Bayesian results).
        """
        rows = []
        for r in self.results:
            row = {f.name: getattr(r, f.name) for f in dataclasses.fields(r)}
            row["significant"] = r.significant if isinstance(r, ComparisonResult) else None
            rows.append(row)
        return rows

    def to_polars(self, view: Literal["concise", "full"] = "concise") -> pl.DataFrame:
        """Results as a polars DataFrame (polars is imported only here).

        Args:
            view: ``concise`` (:data:`CONCISE_COLUMNS`: lift, intervals, p-values,
                ``chance_to_beat_control``, method, status; a column no result has is
                dropped) or ``full`` (every field of every result).

        Returns:
            One row per result.

        Raises:
            ImportError: polars is not installed.
        """
        import polars as pl

        rows = self.to_rows()
        if view == "full":
            return pl.DataFrame(rows, infer_schema_length=None)
        present = [c for c in CONCISE_COLUMNS if any(c in row for row in rows)]
        return pl.DataFrame([{c: row.get(c) for c in present} for row in rows],
                            infer_schema_length=None)


def _validate(
    stats: Mapping[str, Mapping[str, MeanStats | RatioStats]],
    control: str,
    kinds: Mapping[str, MetricKind],
) -> None:
    if not stats:
        raise InvalidInput("expected at least one metric", path="stats")
    for metric, by_variant in stats.items():
        kind = kinds.get(metric)
        if kind is None or kind not in METRIC_KINDS:
            raise InvalidInput(
                f"expected one of {list(METRIC_KINDS)}, got {kind!r}", path=f"kinds[{metric!r}]"
            )
        if control not in by_variant:
            raise InvalidInput(
                f"control {control!r} missing; variants are {sorted(by_variant)}",
                path=f"stats[{metric!r}]",
            )
        if len(by_variant) < 2:
            raise InvalidInput("expected control and at least one treatment",
                               path=f"stats[{metric!r}]")


def analyze(
    stats: Mapping[str, Mapping[str, MeanStats | RatioStats]],
    *,
    control: str,
    kinds: Mapping[str, MetricKind],
    engine: Engine = "frequentist",
    config: AnalysisConfig = _DEFAULT,
    planned_n: int | None = None,
    draws: int = 200_000,
) -> AnalysisTable:
    """Compare every treatment with control on every metric and correct for multiplicity.

    Each metric's method comes from :func:`abwb.stats.methods.method_for` (its kind,
    the engine, and CUPED when both arms carry a covariate). The correction
    (``config.correction``) runs over the whole family of metric × treatment p-values;
    ``p_value_adjusted`` and ``significant`` reflect it. Intervals are per comparison
    (unadjusted) at level 1 − alpha. Bayesian results carry no p-value and are not
    part of the family.

    Args:
        stats: ``{metric: {variant: MeanStats | RatioStats}}``.
        control: Name of the control variant (must be present for every metric).
        kinds: ``{metric: kind}``, the metric definitions' kinds (``binomial``,
            ``count``, ``sum``, ``mean``, ``ratio``).
        engine: ``frequentist``, ``sequential`` or ``bayesian``.
        config: Alpha, alternative and correction.
        planned_n: Planned total units tuning the sequential engine's confidence
            sequences; ``None`` tunes each to the units seen so far.
        draws: Monte Carlo draws for Beta-Binomial intervals.

    Returns:
        The table of results (degenerate comparisons carry a status, never raise).

    Raises:
        InvalidInput: Missing kind or control, unknown kind or engine, wrong statistic type.

    Examples:
        >>> s = {"conversion": {"control": MeanStats.from_counts(100, 1000),
        ...                     "b": MeanStats.from_counts(140, 1000)},
        ...      "orders": {"control": MeanStats(n=1000, total=900.0, total_sq=2000.0),
        ...                 "b": MeanStats(n=1000, total=950.0, total_sq=2100.0)}}
        >>> table = analyze(s, control="control",
        ...                 kinds={"conversion": "binomial", "orders": "count"})
        >>> [(r.metric, r.method, r.significant) for r in table]
        [('conversion', 'two_proportion_z', True), ('orders', 'welch_t', False)]
    """
    _validate(stats, control, kinds)
    options = MethodOptions(config=config, planned_n=planned_n, draws=draws)
    results: list[Comparison] = []
    for metric, by_variant in stats.items():
        for treatment, s in by_variant.items():
            if treatment == control:
                continue
            r = compare(by_variant[control], s, kind=kinds[metric], engine=engine,
                        options=options, path=f"stats[{metric!r}][{treatment!r}]")
            results.append(
                dataclasses.replace(r, metric=metric, control=control, treatment=treatment)
            )
    tested = [(i, r) for i, r in enumerate(results) if isinstance(r, ComparisonResult)]
    adjusted = adjust_p_values([r.p_value for _, r in tested], config.correction)
    for (i, r), p in zip(tested, adjusted, strict=True):
        results[i] = dataclasses.replace(r, p_value_adjusted=p, correction=config.correction)
    return AnalysisTable(results=tuple(results), config=config, engine=engine)
