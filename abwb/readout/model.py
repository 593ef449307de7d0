"""The readout's value objects: what a readout says, frozen and serialisable.

What belongs here: the parameters a readout is run with (validated, with errors
naming the parameter), the experiment facts, the data-quality verdicts, the
decision with the rule that made it, and :class:`ReadoutResult` that holds them
with the per metric × variant results frame. Nothing here reads data or computes
statistics; :mod:`abwb.readout.build` does that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import polars as pl

from abwb.errors import InvalidInput, Problem
from abwb.stats.methods import ENGINES, Engine
from abwb.stats.ship_rule import Verdict

__all__ = [
    "ENGINES",
    "Action",
    "Engine",
    "ExperimentFacts",
    "MetricRole",
    "QualityCheck",
    "ReadoutDecision",
    "ReadoutParameters",
    "ReadoutQuality",
    "ReadoutResult",
    "VariantFacts",
]

MetricRole = Literal["primary", "secondary", "guardrail"]
Action = Verdict
"""The readout's action is the ship rule's verdict (:data:`abwb.stats.ship_rule.Verdict`)."""


@dataclass(frozen=True, slots=True)
class ReadoutParameters:
    """Validated readout parameters (the notebook's ``parameters`` cell, the CLI's flags).

    Args:
        experiment_key: Experiment to read out.
        as_of: Last day (UTC) of data included; ``None`` means all data so far.
        alpha: Significance level, strictly between 0 and 1.
        engine: ``frequentist``, ``sequential`` or ``bayesian``.
        metrics: Metric keys to analyse; ``None`` means the experiment's own.
        segments: Segment keys for breakdowns (reserved; must be empty for now).

    Raises:
        InvalidInput: A parameter has the wrong type or value; every problem is listed.
    """

    experiment_key: str
    as_of: date | None = None
    alpha: float = 0.05
    engine: Engine = "frequentist"
    metrics: tuple[str, ...] | None = None
    segments: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        if not isinstance(self.experiment_key, str) or not self.experiment_key:
            problems.append(
                Problem("experiment_key",
                        f"must be a non-empty string, got {self.experiment_key!r}")
            )
        if self.as_of is not None and (
            not isinstance(self.as_of, date) or isinstance(self.as_of, datetime)
        ):
            problems.append(Problem("as_of", f"must be a date, got {self.as_of!r}"))
        alpha = self.alpha
        if (
            isinstance(alpha, bool)
            or not isinstance(alpha, (int, float))
            or not math.isfinite(alpha)
            or not 0.0 < alpha < 1.0
        ):
            problems.append(Problem("alpha", f"must be a number in (0, 1), got {alpha!r}"))
        if self.engine not in ENGINES:
            problems.append(
                Problem("engine", f"must be one of {list(ENGINES)}, got {self.engine!r}")
            )
        if self.metrics is not None and (
            not self.metrics or not all(isinstance(m, str) and m for m in self.metrics)
        ):
            problems.append(
                Problem("metrics",
                        f"must be None or a non-empty list of keys, got {self.metrics!r}")
            )
        if self.segments:
            problems.append(
                Problem(
                    "segments",
                    "segment breakdowns are not supported yet (exposures carry no unit "
                    f"attributes); pass an empty list, got {list(self.segments)!r}",
                )
            )
        if problems:
            raise InvalidInput(problems)

    @classmethod
    def from_values(
        cls,
        *,
        experiment_key: Any,
        as_of: Any = None,
        alpha: Any = 0.05,
        engine: Any = "frequentist",
        metrics: Any = None,
        segments: Any = None,
    ) -> ReadoutParameters:
        """Build parameters from loose values (notebook literals, CLI strings).

        ``as_of`` may be an ISO date string (``2026-06-01``), a ``date`` or ``None``;
        ``alpha`` a number or numeric string; ``metrics`` / ``segments`` a list or a
        comma-separated string.

        Args:
            experiment_key: Experiment key.
            as_of: Last day of data included.
            alpha: Significance level.
            engine: Statistics engine name.
            metrics: Metric keys or ``None``.
            segments: Segment keys or ``None``.

        Returns:
            The validated parameters.

        Raises:
            InvalidInput: Naming each bad parameter and the value received.

        Examples:
            >>> p = ReadoutParameters.from_values(experiment_key="x", as_of="2026-06-01")
            >>> p.as_of.isoformat(), p.engine
            ('2026-06-01', 'frequentist')
            >>> ReadoutParameters.from_values(experiment_key="x", alpha="high")
            Traceback (most recent call last):
            ...
            abwb.errors.InvalidInput: alpha: must be a number in (0, 1), got 'high'
        """
        problems: list[Problem] = []
        parsed_as_of = _parse_date(as_of, problems)
        parsed_alpha = _parse_float(alpha, "alpha", problems)
        if problems:
            raise InvalidInput(problems)
        return cls(
            experiment_key=experiment_key,
            as_of=parsed_as_of,
            alpha=parsed_alpha,
            engine=engine,
            metrics=_parse_keys(metrics),
            segments=_parse_keys(segments) or (),
        )


def _parse_date(value: Any, problems: list[Problem]) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    problems.append(Problem("as_of", f"must be an ISO date like 2026-06-01, got {value!r}"))
    return None


def _parse_float(value: Any, name: str, problems: list[Problem]) -> float:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            problems.append(Problem(name, f"must be a number in (0, 1), got {value!r}"))
            return math.nan
    return value  # type: ignore[no-any-return]  # validated by __post_init__


def _parse_keys(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return tuple(k.strip() for k in value.split(",") if k.strip())
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return (value,)  # rejected with its value by __post_init__


@dataclass(frozen=True, slots=True)
class VariantFacts:
    """One variant as configured and as observed."""

    key: str
    weight: float
    is_control: bool
    units: int


@dataclass(frozen=True, slots=True)
class ExperimentFacts:
    """What the experiment is and how much data the readout saw."""

    key: str
    name: str
    hypothesis: str
    owner: str
    status: str
    phase: int
    unit_type: str
    traffic_fraction: float
    experiment_version: int
    config_version: int
    variants: tuple[VariantFacts, ...]
    primary_metrics: tuple[str, ...]
    secondary_metrics: tuple[str, ...]
    guardrail_metrics: tuple[str, ...]
    first_exposure_at: datetime | None
    last_exposure_at: datetime | None
    as_of: date
    engine: Engine
    alpha: float

    @property
    def units(self) -> int:
        """Exposed units across all variants."""
        return sum(v.units for v in self.variants)

    @property
    def control(self) -> str:
        """Key of the control variant."""
        return next(v.key for v in self.variants if v.is_control)

    @property
    def days_running(self) -> int:
        """Days from first exposure to ``as_of`` (inclusive), 0 without exposures."""
        if self.first_exposure_at is None:
            return 0
        return max((self.as_of - self.first_exposure_at.date()).days + 1, 0)


@dataclass(frozen=True, slots=True)
class QualityCheck:
    """One data-quality verdict: name, pass/fail and a sentence a PM can read."""

    name: str
    passed: bool
    detail: str
    value: float = math.nan


@dataclass(frozen=True, slots=True)
class ReadoutQuality:
    """Data-quality section: checks plus the daily exposure frame.

    Attributes:
        checks: SRM, crossovers, assignment audit, ... in display order.
        exposures_daily: ``date``, ``variant``, ``units`` (new units that day),
            ``cumulative_units``.
        srm_p_value: p-value of the sample-ratio chi-square test (NaN without data).
    """

    checks: tuple[QualityCheck, ...]
    exposures_daily: pl.DataFrame
    srm_p_value: float

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return all(c.passed for c in self.checks)

    def check(self, name: str) -> QualityCheck | None:
        """The check called ``name``, or ``None``."""
        return next((c for c in self.checks if c.name == name), None)


@dataclass(frozen=True, slots=True)
class ReadoutDecision:
    """The recommendation, the variant it concerns and the rule that made it.

    Attributes:
        action: ``ship``, ``do_not_ship``, ``keep_running`` or ``investigate``.
        variant: The variant to ship (``ship``) or the one that caused the verdict.
        rule: The rule that fired (its name, then plain words).
        headline: One line for the top of the report.
        reasons: Supporting sentences (guardrails, other variants, quality).
    """

    action: Action
    variant: str | None
    rule: str
    headline: str
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReadoutResult:
    """Everything a readout shows, computed once by :func:`abwb.readout.build_readout`.

    Attributes:
        facts: The experiment and data volume.
        quality: Data-quality checks and exposures over time.
        results: One row per metric × treatment variant (see
            :data:`abwb.readout.analysis.RESULT_SCHEMA`).
        over_time: Cumulative daily results: ``date``, ``metric``, ``variant``,
            ``effect_rel``, ``ci_low_rel``, ``ci_high_rel``, ``units``.
        decision: The recommendation.
        metric_names: Display name per metric key.
        computed_at: When the readout was computed (UTC), ``None`` if not recorded.
        abwb_version: The abwb version that computed it.
    """

    facts: ExperimentFacts
    quality: ReadoutQuality
    results: pl.DataFrame
    over_time: pl.DataFrame
    decision: ReadoutDecision
    metric_names: dict[str, str] = field(default_factory=dict)
    computed_at: datetime | None = None
    abwb_version: str = ""

    @property
    def headline(self) -> str:
        """The decision's one-line headline."""
        return self.decision.headline
