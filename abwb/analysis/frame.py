"""One-call analysis of a per-unit polars frame: declared metrics in, one tidy result out.

What belongs here: :func:`frame_statistics` (the one place that reduces a per-unit
frame to per-variant :class:`~abwb.stats.summary.MeanStats` /
:class:`~abwb.stats.summary.RatioStats`, with a single ``group_by``) and
:func:`analyze_frame`, which hands those statistics to
:func:`abwb.stats.analysis.analyze` — the method for each metric comes from the
registry in :mod:`abwb.stats.methods`, exactly as in the readout — and wraps the
typed table in an :class:`~abwb.analysis.result.AnalysisResult`.

Input checks name the column and the problem: a missing column, a non-numeric
column, a null or non-finite value, a proportion column holding something other
than 0/1, a missing control variant.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import polars as pl

from abwb.analysis.declarations import Mean, MetricSpec, Proportion, Ratio
from abwb.analysis.result import AnalysisResult
from abwb.errors import InvalidInput, Problem
from abwb.stats.analysis import analyze
from abwb.stats.config import AnalysisConfig
from abwb.stats.methods import ENGINES, Engine
from abwb.stats.summary import MeanStats, RatioStats

if TYPE_CHECKING:
    from abwb.config.metric import MetricKind

__all__ = ["analyze_frame", "frame_statistics"]

_DEFAULT = AnalysisConfig()


def _columns(spec: MetricSpec) -> list[tuple[str, str]]:
    """``(field, column)`` pairs a declaration reads."""
    if isinstance(spec, Ratio):
        return [("numerator", spec.numerator), ("denominator", spec.denominator)]
    pairs = [("column", spec.column)]
    if spec.covariate is not None:
        pairs.append(("covariate", spec.covariate))
    return pairs


def _check_frame(data: pl.DataFrame, metrics: Mapping[str, MetricSpec], variant: str) -> None:
    problems: list[Problem] = []
    if variant not in data.columns:
        problems.append(Problem("variant", f"no column {variant!r}; columns are {data.columns}"))
    elif data[variant].null_count():
        problems.append(Problem("variant", f"column {variant!r} has "
                                           f"{data[variant].null_count()} unit(s) without a "
                                           "variant; drop them first"))
    for name, spec in metrics.items():
        if not isinstance(spec, (Mean, Proportion, Ratio)):
            problems.append(Problem(f"metrics[{name!r}]",
                                    f"expected Mean, Proportion or Ratio, got {spec!r}"))
            continue
        for field, column in _columns(spec):
            path = f"metrics[{name!r}].{field}"
            if column not in data.columns:
                problems.append(Problem(path, f"no column {column!r}; columns are {data.columns}"))
                continue
            series = data[column]
            if not (series.dtype.is_numeric() or series.dtype == pl.Boolean):
                problems.append(Problem(path, f"column {column!r} must be numeric, "
                                              f"got {series.dtype}"))
                continue
            values = series.cast(pl.Float64)
            if values.null_count():
                problems.append(Problem(path, f"column {column!r} has {values.null_count()} "
                                              "null value(s); fill or drop them first"))
            elif not values.is_finite().all():
                problems.append(Problem(path, f"column {column!r} has non-finite values"))
            elif (isinstance(spec, Proportion) and field == "column"
                  and not values.is_in([0.0, 1.0]).all()):
                problems.append(Problem(path, f"column {column!r} of a Proportion must hold "
                                              "only 0/1 (or booleans)"))
    if problems:
        raise InvalidInput(problems)


def _aggregations(name: str, spec: MetricSpec) -> list[pl.Expr]:
    def s(expr: pl.Expr, field: str) -> pl.Expr:
        return expr.sum().alias(f"{name}\x1f{field}")

    if isinstance(spec, Ratio):
        num = pl.col(spec.numerator).cast(pl.Float64)
        den = pl.col(spec.denominator).cast(pl.Float64)
        return [s(num, "num_total"), s(num * num, "num_total_sq"), s(den, "den_total"),
                s(den * den, "den_total_sq"), s(num * den, "num_den_total")]
    y = pl.col(spec.column).cast(pl.Float64)
    out = [s(y, "total"), s(y * y, "total_sq")]
    if spec.covariate is not None:
        x = pl.col(spec.covariate).cast(pl.Float64)
        out += [s(x, "covariate_total"), s(x * x, "covariate_total_sq"), s(x * y, "cross_total")]
    return out


def _statistic(name: str, spec: MetricSpec, row: Mapping[str, object]) -> MeanStats | RatioStats:
    n = int(row["\x1fn"])  # type: ignore[call-overload]

    def f(field: str) -> float:
        return float(row[f"{name}\x1f{field}"])  # type: ignore[arg-type]

    if isinstance(spec, Ratio):
        return RatioStats(n=n, num_total=f("num_total"), num_total_sq=f("num_total_sq"),
                          den_total=f("den_total"), den_total_sq=f("den_total_sq"),
                          num_den_total=f("num_den_total"))
    if spec.covariate is None:
        return MeanStats(n=n, total=f("total"), total_sq=f("total_sq"))
    return MeanStats(n=n, total=f("total"), total_sq=f("total_sq"),
                     covariate_total=f("covariate_total"),
                     covariate_total_sq=f("covariate_total_sq"),
                     cross_total=f("cross_total"), has_covariate=True)


def frame_statistics(
    data: pl.DataFrame | pl.LazyFrame,
    metrics: Mapping[str, MetricSpec],
    *,
    variant: str = "variant",
) -> dict[str, dict[str, MeanStats | RatioStats]]:
    """Reduce a per-unit frame to per-variant sufficient statistics, one ``group_by``.

    Args:
        data: One row per unit: a variant column and the declared metrics' columns.
        metrics: ``{metric name: Mean | Proportion | Ratio}``.
        variant: Name of the variant column.

    Returns:
        ``{metric: {variant: MeanStats | RatioStats}}``, variants sorted by name.

    Raises:
        InvalidInput: A missing, non-numeric, null or non-finite column, or a
            proportion column that is not 0/1 — every problem at once.

    Examples:
        >>> frame = pl.DataFrame({"variant": ["a", "a", "b"], "y": [1.0, 3.0, 2.0]})
        >>> frame_statistics(frame, {"y": Mean("y")})["y"]["a"].mean
        2.0
    """
    frame = data.collect() if isinstance(data, pl.LazyFrame) else data
    if not metrics:
        raise InvalidInput("expected at least one metric", path="metrics")
    _check_frame(frame, metrics, variant)
    aggs = [pl.len().alias("\x1fn")]
    for name, spec in metrics.items():
        aggs += _aggregations(name, spec)
    grouped = (frame.group_by(pl.col(variant).cast(pl.String).alias("\x1fvariant"))
               .agg(aggs).sort("\x1fvariant"))
    return {
        name: {str(row["\x1fvariant"]): _statistic(name, spec, row)
               for row in grouped.iter_rows(named=True)}
        for name, spec in metrics.items()
    }


def analyze_frame(
    data: pl.DataFrame | pl.LazyFrame,
    metrics: Mapping[str, MetricSpec],
    *,
    control: str = "control",
    variant: str = "variant",
    engine: Engine = "frequentist",
    config: AnalysisConfig = _DEFAULT,
    planned_n: int | None = None,
) -> AnalysisResult:
    """Analyse every declared metric of a per-unit frame, every treatment against control.

    The statistics come from :func:`frame_statistics`; the methods, the
    multiple-testing correction and the results from :func:`abwb.stats.analysis.analyze`
    (registry: two-proportion z / Welch t / CUPED / delta method, confidence sequences,
    Beta-Binomial / Normal posteriors), so the numbers equal the readout's for the same
    statistics.

    Args:
        data: One row per unit with a variant column and the metrics' columns.
        metrics: ``{metric name: Mean | Proportion | Ratio}``, in display order.
        control: The control variant's value in the variant column (compared as text,
            so ``"0"`` for an integer column).
        variant: Name of the variant column.
        engine: ``frequentist``, ``sequential`` or ``bayesian``.
        config: Alpha, alternative and correction (Holm by default).
        planned_n: Planned total units for the sequential engine (``None``: units so far).

    Returns:
        The result: HTML in Jupyter, a text table from ``print``, ``to_polars()``,
        ``plot()``.

    Raises:
        InvalidInput: A bad column, an unknown engine, a missing control or no treatment.

    Examples:
        >>> frame = pl.DataFrame({"variant": ["control", "b"] * 500,
        ...                       "converted": [0, 1, 0, 0] * 250})
        >>> result = analyze_frame(frame, {"conversion": Proportion("converted")})
        >>> result.get("conversion", "b").method
        'two_proportion_z'
    """
    if engine not in ENGINES:
        raise InvalidInput(f"expected one of {list(ENGINES)}, got {engine!r}", path="engine")
    stats = frame_statistics(data, metrics, variant=variant)
    variants = sorted({v for by_variant in stats.values() for v in by_variant})
    if control not in variants:
        raise InvalidInput(f"no unit has variant {control!r}; variants are {variants}",
                           path="control")
    if len(variants) < 2:
        raise InvalidInput(f"expected control and at least one treatment, got {variants}",
                           path=variant)
    ordered = {name: {control: by_variant[control],
                      **{v: s for v, s in by_variant.items() if v != control}}
               for name, by_variant in stats.items()}
    kinds: dict[str, MetricKind] = {name: spec.kind for name, spec in metrics.items()}
    table = analyze(ordered, control=control, kinds=kinds, engine=engine, config=config,
                    planned_n=planned_n)
    return AnalysisResult(
        table=table,
        directions={name: spec.direction for name, spec in metrics.items()},
        kinds=kinds,
    )
