"""Per-variant sufficient statistics: the seam between metric pipelines and the stats engine.

What belongs here: the frozen statistic objects a pipeline produces per variant
(``MeanStats`` for per-unit metrics with an optional CUPED covariate,
``RatioStats`` for ratio-of-sums metrics), their validation and their pooling by
``+``. Nothing in this module tests a hypothesis; that lives in
``frequentist``, ``sequential`` and ``bayesian``.

Pooling is exact: the statistics of two disjoint partitions (days, shards) added
together equal the statistics of their union, because every field is a sum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Self

import numpy as np

from abwb.errors import InvalidInput, Problem

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["MeanStats", "RatioStats", "require_binary"]


def _check_fields(obj: object, prefix: str) -> None:
    """Validate that ``n`` is a non-negative int and every float field is finite.

    Every problem is collected so the caller sees them all at once.
    """
    problems: list[Problem] = []
    for f in fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        path = f"{prefix}.{f.name}"
        if f.name == "n":
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                problems.append(Problem(path, f"expected an int, got {value!r}"))
            elif value < 0:
                problems.append(Problem(path, f"expected n >= 0, got {value}"))
        elif f.name == "has_covariate":
            if not isinstance(value, (bool, np.bool_)):
                problems.append(Problem(path, f"expected a bool, got {value!r}"))
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                problems.append(Problem(path, f"expected a real number, got {value!r}"))
            elif not math.isfinite(float(value)):
                problems.append(Problem(path, f"expected a finite number, got {value!r}"))
    if problems:
        raise InvalidInput(problems)


def _sample_var(n: int, total: float, total_sq: float) -> float:
    # ddof=1 needs two units; with n <= 1 the variance is undefined, so NaN rather
    # than 0 (0 would claim certainty that one observation cannot give).
    if n <= 1:
        return math.nan
    mean = total / n
    var = (total_sq - n * mean * mean) / (n - 1)
    # Rounding in Σy² - n·ȳ² can go slightly negative for constant data.
    return max(var, 0.0)


def _sample_cov(n: int, total_a: float, total_b: float, cross: float) -> float:
    if n <= 1:
        return math.nan
    return (cross - total_a * total_b / n) / (n - 1)


def require_binary(stats: MeanStats, name: str) -> None:
    """Check that ``stats`` describe a 0/1 metric (Σy² = Σy and 0 <= Σy <= n).

    Args:
        stats: Statistics to check.
        name: Argument name used in the error path, e.g. ``control``.

    Raises:
        InvalidInput: The statistics cannot come from 0/1 data; using a proportion
            method on them is a programmer mistake.

    Examples:
        >>> require_binary(MeanStats.from_counts(3, 10), "control")
        >>> require_binary(MeanStats.from_values([2.0]), "control")
        Traceback (most recent call last):
        ...
        abwb.errors.InvalidInput: control.total_sq: expected 0/1 data ...
    """
    tol = 1e-9 * max(1.0, abs(stats.total))
    if abs(stats.total_sq - stats.total) > tol or not -tol <= stats.total <= stats.n + tol:
        raise InvalidInput(
            f"expected 0/1 data (total_sq == total, 0 <= total <= n), got n={stats.n}, "
            f"total={stats.total}, total_sq={stats.total_sq}",
            path=f"{name}.total_sq",
        )


@dataclass(frozen=True, slots=True)
class MeanStats:
    """Sufficient statistics of a per-unit metric ``y``, with an optional covariate ``x``.

    ``y`` can be a conversion (0/1), a count, a sum or a mean per unit. ``x`` is
    a pre-period covariate used for CUPED variance reduction.

    Args:
        n: Number of units.
        total: Σy.
        total_sq: Σy².
        covariate_total: Σx (pre-period covariate).
        covariate_total_sq: Σx².
        cross_total: Σxy.
        has_covariate: Whether the covariate fields are meaningful.

    Raises:
        InvalidInput: ``n`` negative or not an int, or a total not finite.

    Examples:
        >>> a = MeanStats.from_values([1.0, 0.0, 1.0])
        >>> b = MeanStats.from_values([1.0])
        >>> (a + b).n, (a + b).mean
        (4, 0.75)
    """

    n: int
    total: float
    total_sq: float
    covariate_total: float = 0.0
    covariate_total_sq: float = 0.0
    cross_total: float = 0.0
    has_covariate: bool = False

    def __post_init__(self) -> None:
        _check_fields(self, "MeanStats")
        if not self.has_covariate and (
            self.covariate_total or self.covariate_total_sq or self.cross_total
        ):
            raise InvalidInput(
                "covariate totals are non-zero but has_covariate is False; "
                "set has_covariate=True",
                path="MeanStats.has_covariate",
            )

    @property
    def mean(self) -> float:
        """Sample mean of ``y`` (NaN when ``n == 0``)."""
        return self.total / self.n if self.n > 0 else math.nan

    @property
    def var(self) -> float:
        """Sample variance of ``y`` with ddof=1 (NaN when ``n <= 1``)."""
        return _sample_var(self.n, self.total, self.total_sq)

    @property
    def covariate_mean(self) -> float:
        """Sample mean of the covariate ``x`` (NaN without covariate or units)."""
        if not self.has_covariate or self.n == 0:
            return math.nan
        return self.covariate_total / self.n

    @property
    def covariate_var(self) -> float:
        """Sample variance of ``x`` with ddof=1 (NaN without covariate or ``n <= 1``)."""
        if not self.has_covariate:
            return math.nan
        return _sample_var(self.n, self.covariate_total, self.covariate_total_sq)

    @property
    def cov(self) -> float:
        """Sample covariance of ``x`` and ``y`` with ddof=1 (NaN without covariate)."""
        if not self.has_covariate:
            return math.nan
        return _sample_cov(self.n, self.covariate_total, self.total, self.cross_total)

    def __add__(self, other: object) -> MeanStats:
        if not isinstance(other, MeanStats):
            return NotImplemented
        if self.has_covariate != other.has_covariate:
            raise InvalidInput(
                "cannot pool MeanStats with and without a covariate "
                f"(has_covariate {self.has_covariate} + {other.has_covariate})",
                path="MeanStats.has_covariate",
            )
        return MeanStats(
            n=self.n + other.n,
            total=self.total + other.total,
            total_sq=self.total_sq + other.total_sq,
            covariate_total=self.covariate_total + other.covariate_total,
            covariate_total_sq=self.covariate_total_sq + other.covariate_total_sq,
            cross_total=self.cross_total + other.cross_total,
            has_covariate=self.has_covariate,
        )

    @classmethod
    def from_values(cls, y: ArrayLike, x: ArrayLike | None = None) -> Self:
        """Reduce unit-level values to sufficient statistics.

        Args:
            y: Metric value per unit (1-D).
            x: Optional pre-period covariate per unit, same length as ``y``.

        Returns:
            The statistics; ``has_covariate`` is True when ``x`` is given.

        Raises:
            InvalidInput: ``y`` / ``x`` not 1-D, different lengths, or not finite.

        Examples:
            >>> s = MeanStats.from_values([1.0, 2.0, 3.0], x=[1.0, 1.0, 2.0])
            >>> s.total, s.cross_total, s.has_covariate
            (6.0, 9.0, True)
        """
        ya = np.asarray(y, dtype=float)
        if ya.ndim != 1:
            raise InvalidInput(f"expected a 1-D array, got shape {ya.shape}", path="y")
        if x is None:
            return cls(n=int(ya.size), total=float(ya.sum()), total_sq=float(ya @ ya))
        xa = np.asarray(x, dtype=float)
        if xa.shape != ya.shape:
            raise InvalidInput(
                f"expected the same shape as y {ya.shape}, got {xa.shape}", path="x"
            )
        return cls(
            n=int(ya.size),
            total=float(ya.sum()),
            total_sq=float(ya @ ya),
            covariate_total=float(xa.sum()),
            covariate_total_sq=float(xa @ xa),
            cross_total=float(xa @ ya),
            has_covariate=True,
        )

    @classmethod
    def from_counts(cls, conversions: int, n: int) -> Self:
        """Statistics of a 0/1 conversion metric from counts (Σy = Σy² = conversions).

        Args:
            conversions: Number of converting units, ``0 <= conversions <= n``.
            n: Number of units.

        Returns:
            The statistics.

        Raises:
            InvalidInput: ``conversions`` outside ``[0, n]``.

        Examples:
            >>> MeanStats.from_counts(30, 100).mean
            0.3
        """
        if not 0 <= conversions <= n:
            raise InvalidInput(
                f"expected 0 <= conversions <= n={n}, got {conversions}", path="conversions"
            )
        return cls(n=int(n), total=float(conversions), total_sq=float(conversions))


@dataclass(frozen=True, slots=True)
class RatioStats:
    """Sufficient statistics of a ratio-of-sums metric Σnum / Σden across units.

    Example: revenue per session, where each unit (user) contributes a numerator
    (revenue) and a denominator (sessions). Units are the randomisation unit, so
    the delta method accounts for the correlation within a unit.

    Args:
        n: Number of units.
        num_total: Σnum.
        num_total_sq: Σnum².
        den_total: Σden.
        den_total_sq: Σden².
        num_den_total: Σnum·den.

    Raises:
        InvalidInput: ``n`` negative or not an int, or a total not finite.

    Examples:
        >>> r = RatioStats.from_values([2.0, 0.0, 4.0], [1.0, 1.0, 2.0])
        >>> r.ratio
        1.5
    """

    n: int
    num_total: float
    num_total_sq: float
    den_total: float
    den_total_sq: float
    num_den_total: float

    def __post_init__(self) -> None:
        _check_fields(self, "RatioStats")

    @property
    def ratio(self) -> float:
        """Σnum / Σden (NaN when Σden is 0)."""
        return self.num_total / self.den_total if self.den_total != 0 else math.nan

    @property
    def num_mean(self) -> float:
        """Mean numerator per unit (NaN when ``n == 0``)."""
        return self.num_total / self.n if self.n > 0 else math.nan

    @property
    def den_mean(self) -> float:
        """Mean denominator per unit (NaN when ``n == 0``)."""
        return self.den_total / self.n if self.n > 0 else math.nan

    @property
    def num_var(self) -> float:
        """Sample variance of the numerator, ddof=1 (NaN when ``n <= 1``)."""
        return _sample_var(self.n, self.num_total, self.num_total_sq)

    @property
    def den_var(self) -> float:
        """Sample variance of the denominator, ddof=1 (NaN when ``n <= 1``)."""
        return _sample_var(self.n, self.den_total, self.den_total_sq)

    @property
    def num_den_cov(self) -> float:
        """Sample covariance of numerator and denominator, ddof=1 (NaN when ``n <= 1``)."""
        return _sample_cov(self.n, self.num_total, self.den_total, self.num_den_total)

    @property
    def ratio_var(self) -> float:
        """Delta-method variance of the ratio estimator Σnum/Σden.

        With means μ_n, μ_d, variances σ²_n, σ²_d and covariance σ_nd per unit,
        Var(R) ≈ (σ²_n − 2R·σ_nd + R²·σ²_d) / (n·μ_d²).
        NaN when ``n <= 1`` or Σden is 0.

        References:
            Deng, Knoblich & Lu (2018), "Applying the Delta Method in Metric
            Analytics: A Practical Guide with Novel Ideas", KDD.
        """
        if self.n <= 1 or self.den_total == 0:
            return math.nan
        r = self.ratio
        mu_d = self.den_mean
        v = self.num_var - 2.0 * r * self.num_den_cov + r * r * self.den_var
        return max(v, 0.0) / (self.n * mu_d * mu_d)

    def __add__(self, other: object) -> RatioStats:
        if not isinstance(other, RatioStats):
            return NotImplemented
        return RatioStats(
            n=self.n + other.n,
            num_total=self.num_total + other.num_total,
            num_total_sq=self.num_total_sq + other.num_total_sq,
            den_total=self.den_total + other.den_total,
            den_total_sq=self.den_total_sq + other.den_total_sq,
            num_den_total=self.num_den_total + other.num_den_total,
        )

    @classmethod
    def from_values(cls, num: ArrayLike, den: ArrayLike) -> Self:
        """Reduce unit-level numerators and denominators to sufficient statistics.

        Args:
            num: Numerator per unit (1-D).
            den: Denominator per unit, same length as ``num``.

        Returns:
            The statistics.

        Raises:
            InvalidInput: arrays not 1-D or of different lengths.

        Examples:
            >>> RatioStats.from_values([1.0, 3.0], [2.0, 2.0]).num_den_total
            8.0
        """
        na = np.asarray(num, dtype=float)
        da = np.asarray(den, dtype=float)
        if na.ndim != 1:
            raise InvalidInput(f"expected a 1-D array, got shape {na.shape}", path="num")
        if da.shape != na.shape:
            raise InvalidInput(
                f"expected the same shape as num {na.shape}, got {da.shape}", path="den"
            )
        return cls(
            n=int(na.size),
            num_total=float(na.sum()),
            num_total_sq=float(na @ na),
            den_total=float(da.sum()),
            den_total_sq=float(da @ da),
            num_den_total=float(na @ da),
        )
