"""Metric declarations for analysing a per-unit frame: which columns, which kind.

What belongs here: the small frozen records an analyst writes to say what to analyse
(:class:`Mean`, :class:`Proportion`, :class:`Ratio`), each naming the frame's columns
and mapping to one metric-definition kind (:data:`abwb.config.MetricKind`), so the
method comes from the same registry the readout uses (:mod:`abwb.stats.methods`).
Nothing here reads data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from abwb.config.metric import MetricKind
from abwb.errors import InvalidInput
from abwb.stats.ship_rule import Direction

__all__ = ["Mean", "MetricSpec", "Proportion", "Ratio"]


def _check_column(value: object, path: str) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"expected a column name, got {value!r}", path=path)


def _check_direction(value: object, path: str) -> None:
    if value not in ("increase", "decrease"):
        raise InvalidInput(f"expected 'increase' or 'decrease', got {value!r}", path=path)


@dataclass(frozen=True, slots=True)
class Mean:
    """The mean of a per-unit value (orders, revenue, minutes), Welch t by default.

    Args:
        column: Column holding the value per unit.
        covariate: Optional pre-period column per unit; CUPED uses it.
        direction: Which way is good (``increase`` or ``decrease``).

    Raises:
        InvalidInput: An empty column name or an unknown direction.

    Examples:
        >>> Mean("orders", covariate="orders_before").kind
        'mean'
    """

    column: str
    covariate: str | None = None
    direction: Direction = "increase"

    def __post_init__(self) -> None:
        _check_column(self.column, "Mean.column")
        if self.covariate is not None:
            _check_column(self.covariate, "Mean.covariate")
        _check_direction(self.direction, "Mean.direction")

    @property
    def kind(self) -> MetricKind:
        """The metric-definition kind the registry reads."""
        return "mean"


@dataclass(frozen=True, slots=True)
class Proportion:
    """The share of units with a 0/1 value (conversion), two-proportion z by default.

    Args:
        column: Column holding 0/1 (or booleans) per unit.
        covariate: Optional pre-period column per unit; CUPED uses it.
        direction: Which way is good.

    Raises:
        InvalidInput: An empty column name or an unknown direction.

    Examples:
        >>> Proportion("converted").kind
        'binomial'
    """

    column: str
    covariate: str | None = None
    direction: Direction = "increase"

    def __post_init__(self) -> None:
        _check_column(self.column, "Proportion.column")
        if self.covariate is not None:
            _check_column(self.covariate, "Proportion.covariate")
        _check_direction(self.direction, "Proportion.direction")

    @property
    def kind(self) -> MetricKind:
        """The metric-definition kind the registry reads."""
        return "binomial"


@dataclass(frozen=True, slots=True)
class Ratio:
    """A ratio of sums across units (revenue per order), delta method by default.

    Args:
        numerator: Column holding the numerator per unit.
        denominator: Column holding the denominator per unit.
        direction: Which way is good.

    Raises:
        InvalidInput: An empty column name or an unknown direction.

    Examples:
        >>> Ratio("revenue", "orders").kind
        'ratio'
    """

    numerator: str
    denominator: str
    direction: Direction = "increase"

    def __post_init__(self) -> None:
        _check_column(self.numerator, "Ratio.numerator")
        _check_column(self.denominator, "Ratio.denominator")
        _check_direction(self.direction, "Ratio.direction")

    @property
    def kind(self) -> Literal["ratio"]:
        """The metric-definition kind the registry reads."""
        return "ratio"


MetricSpec = Mean | Proportion | Ratio
"""One declared metric of a frame analysis."""
