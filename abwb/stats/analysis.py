"""The readout entry point: analyse every metric × treatment of one experiment at once.

What belongs here: ``analyze`` (dispatch each metric to its fixed-horizon test by
kind, label the results, apply the multiple-testing correction across the whole
family) and the ``AnalysisTable`` it returns. The tests themselves live in
``frequentist``; this module only orchestrates them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

from abwb.errors import InvalidInput
from abwb.stats.config import AnalysisConfig
from abwb.stats.corrections import adjust_p_values
from abwb.stats.frequentist import cuped_ttest, proportions_ztest, ratio_ztest, welch_ttest
from abwb.stats.results import ComparisonResult
from abwb.stats.summary import MeanStats, RatioStats

if TYPE_CHECKING:
    import polars as pl

__all__ = ["AnalysisTable", "MetricKind", "analyze"]

MetricKind = Literal["mean", "proportion", "ratio", "cuped"]
"""How a metric is analysed: Welch t (``mean``), two-proportion z (``proportion``),
delta-method z (``ratio``) or CUPED-adjusted Welch t (``cuped``)."""

_TESTS: dict[str, tuple[type, Callable[..., ComparisonResult]]] = {
    "mean": (MeanStats, welch_ttest),
    "proportion": (MeanStats, proportions_ztest),
    "ratio": (RatioStats, ratio_ztest),
    "cuped": (MeanStats, cuped_ttest),
}

_DEFAULT = AnalysisConfig()


@dataclass(frozen=True, slots=True)
class AnalysisTable:
    """Results of ``analyze``: one ``ComparisonResult`` per metric × treatment.

    Attributes:
        results: Results in metric order, then treatment order.
        config: The configuration used.
    """

    results: tuple[ComparisonResult, ...]
    config: AnalysisConfig

    def __iter__(self) -> Iterator[ComparisonResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, index: int) -> ComparisonResult:
        return self.results[index]

    def get(self, metric: str, treatment: str) -> ComparisonResult:
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
            Rows with every field of ``ComparisonResult``.
        """
        rows = []
        for r in self.results:
            row = {f.name: getattr(r, f.name) for f in dataclasses.fields(r)}
            row["significant"] = r.significant
            rows.append(row)
        return rows

    def to_polars(self) -> pl.DataFrame:
        """Results as a polars DataFrame (polars is imported only here).

        Returns:
            One row per result.

        Raises:
            ImportError: polars is not installed.
        """
        import polars as pl

        return pl.DataFrame(self.to_rows())


def _validate(
    stats: Mapping[str, Mapping[str, MeanStats | RatioStats]],
    control: str,
    kinds: Mapping[str, MetricKind],
) -> None:
    if not stats:
        raise InvalidInput("expected at least one metric", path="stats")
    for metric, by_variant in stats.items():
        kind = kinds.get(metric)
        if kind is None or kind not in get_args(MetricKind):
            raise InvalidInput(
                f"expected one of {get_args(MetricKind)}, got {kind!r}", path=f"kinds[{metric!r}]"
            )
        if control not in by_variant:
            raise InvalidInput(
                f"control {control!r} missing; variants are {sorted(by_variant)}",
                path=f"stats[{metric!r}]",
            )
        if len(by_variant) < 2:
            raise InvalidInput("expected control and at least one treatment",
                               path=f"stats[{metric!r}]")
        expected_type = _TESTS[kind][0]
        for variant, s in by_variant.items():
            if not isinstance(s, expected_type):
                raise InvalidInput(
                    f"kind {kind!r} needs {expected_type.__name__}, got {type(s).__name__}",
                    path=f"stats[{metric!r}][{variant!r}]",
                )


def analyze(
    stats: Mapping[str, Mapping[str, MeanStats | RatioStats]],
    *,
    control: str,
    kinds: Mapping[str, MetricKind],
    config: AnalysisConfig = _DEFAULT,
) -> AnalysisTable:
    """Compare every treatment with control on every metric and correct for multiplicity.

    The correction (``config.correction``) runs over the whole family of
    metric × treatment p-values; ``p_value_adjusted`` and ``significant`` reflect it.
    CIs are per-comparison (unadjusted) at level 1 − alpha.

    Args:
        stats: ``{metric: {variant: MeanStats | RatioStats}}``.
        control: Name of the control variant (must be present for every metric).
        kinds: ``{metric: kind}``, see ``MetricKind``.
        config: Alpha, alternative and correction.

    Returns:
        The table of results (degenerate comparisons carry a status, never raise).

    Raises:
        InvalidInput: Missing kind or control, unknown kind, wrong statistic type.

    Examples:
        >>> s = {"conversion": {"control": MeanStats.from_counts(100, 1000),
        ...                     "b": MeanStats.from_counts(140, 1000)},
        ...      "orders": {"control": MeanStats(n=1000, total=900.0, total_sq=2000.0),
        ...                 "b": MeanStats(n=1000, total=950.0, total_sq=2100.0)}}
        >>> table = analyze(s, control="control",
        ...                 kinds={"conversion": "proportion", "orders": "mean"})
        >>> [(r.metric, r.method, r.significant) for r in table]
        [('conversion', 'two_proportion_z', True), ('orders', 'welch_t', False)]
    """
    _validate(stats, control, kinds)
    results: list[ComparisonResult] = []
    for metric, by_variant in stats.items():
        test = _TESTS[kinds[metric]][1]
        for treatment, s in by_variant.items():
            if treatment == control:
                continue
            r = test(by_variant[control], s, config=config)
            results.append(
                dataclasses.replace(r, metric=metric, control=control, treatment=treatment)
            )
    adjusted = adjust_p_values([r.p_value for r in results], config.correction)
    final = tuple(
        dataclasses.replace(r, p_value_adjusted=p, correction=config.correction)
        for r, p in zip(results, adjusted, strict=True)
    )
    return AnalysisTable(results=final, config=config)
