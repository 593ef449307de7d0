"""Simulation settings: who is exposed, which events they emit, what goes wrong.

What belongs here: the frozen configuration of a simulated experiment — the event
streams with their true per-variant effects, novelty decay, the pre-period
covariate's correlation, and injected faults (SRM by dropped exposures, logging
loss, mis-assigned and crossover units). Validated on construction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from abwb.errors import InvalidInput, Problem

__all__ = ["ConversionStream", "GaussianStream", "Novelty", "SimulationConfig", "Stream"]

_DAY_S = 86_400.0


def _fraction(problems: list[Problem], path: str, value: float, *, upper: float = 1.0) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value <= upper):
        problems.append(Problem(path, f"must be in [0, {upper}], got {value!r}"))


def _positive(problems: list[Problem], path: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        problems.append(Problem(path, f"must be > 0, got {value!r}"))


def _lifts(problems: list[Problem], path: str, lifts: Mapping[str, float]) -> None:
    for variant, lift in lifts.items():
        if not (math.isfinite(lift) and lift > -1):
            problems.append(Problem(f"{path}[{variant!r}]", f"must be > -1, got {lift!r}"))


@dataclass(frozen=True, slots=True)
class Novelty:
    """A novelty effect: extra relative lift at exposure that halves every ``half_life_s``.

    Args:
        extra_lift: Additional relative lift of treated variants at exposure time.
        half_life_s: Seconds after exposure for the extra lift to halve.
    """

    extra_lift: float
    half_life_s: float

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        if not (math.isfinite(self.extra_lift) and self.extra_lift > -1):
            problems.append(Problem("novelty.extra_lift", f"must be > -1, got {self.extra_lift}"))
        _positive(problems, "novelty.half_life_s", self.half_life_s)
        if problems:
            raise InvalidInput(problems)


@dataclass(frozen=True, slots=True)
class ConversionStream:
    """Units convert with a probability; converters emit events with heavy-tailed values.

    Revenue-like metrics come out with many zeros (non-converters) and a log-normal
    tail: per event value ``exp(N(value_log_mean, value_log_sd))``.

    Args:
        name: Event name.
        rate: Control probability that a unit converts within ``window_s``.
        window_s: Events happen uniformly in ``[0, window_s)`` after exposure.
        events_per_conversion: Mean events of a converter (``1 + Poisson(mean - 1)``).
        value_log_mean: Log-scale mean of each event's value; ``None``: no value.
        value_log_sd: Log-scale standard deviation.
        lift: Variant → true relative lift of ``rate``.
        value_lift: Variant → true relative lift of each event's value.
        novelty: Optional decaying extra lift of the rate for non-control variants.
    """

    name: str
    rate: float
    window_s: float = 14 * _DAY_S
    events_per_conversion: float = 1.0
    value_log_mean: float | None = None
    value_log_sd: float = 1.0
    lift: Mapping[str, float] = field(default_factory=dict)
    value_lift: Mapping[str, float] = field(default_factory=dict)
    novelty: Novelty | None = None

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        if not self.name:
            problems.append(Problem("name", "must not be empty"))
        _fraction(problems, "rate", self.rate)
        _positive(problems, "window_s", self.window_s)
        if not (math.isfinite(self.events_per_conversion) and self.events_per_conversion >= 1):
            problems.append(Problem("events_per_conversion",
                                    f"must be >= 1, got {self.events_per_conversion!r}"))
        if not (math.isfinite(self.value_log_sd) and self.value_log_sd >= 0):
            problems.append(Problem("value_log_sd", f"must be >= 0, got {self.value_log_sd!r}"))
        _lifts(problems, "lift", self.lift)
        _lifts(problems, "value_lift", self.value_lift)
        if problems:
            raise InvalidInput(problems)


@dataclass(frozen=True, slots=True)
class GaussianStream:
    """One valued event per unit after exposure and one before, correlated at ``rho``.

    The post-exposure value is ``mean·(1 + lift) + sd·(rho·z + √(1-rho²)·ε)`` and the
    pre-period value ``mean + sd·z`` (``z, ε ~ N(0, 1)``), so a ``sum`` metric with
    ``cuped_window_s >= pre_period_s`` sees a CUPED covariate correlated at ``rho``.

    Args:
        name: Event name.
        mean: Control mean of the per-unit value.
        sd: Standard deviation of the per-unit value.
        rho: Correlation between the pre-period and post-exposure values, in [-1, 1].
        window_s: The post event happens uniformly in ``[0, window_s)`` after exposure.
        pre_period_s: The pre event happens uniformly in ``[-pre_period_s, 0)``;
            ``None`` emits no pre-period event.
        lift: Variant → true relative lift of ``mean``.
    """

    name: str
    mean: float
    sd: float
    rho: float = 0.0
    window_s: float = 14 * _DAY_S
    pre_period_s: float | None = 14 * _DAY_S
    lift: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        if not self.name:
            problems.append(Problem("name", "must not be empty"))
        if not math.isfinite(self.mean):
            problems.append(Problem("mean", f"must be finite, got {self.mean!r}"))
        if not (math.isfinite(self.sd) and self.sd >= 0):
            problems.append(Problem("sd", f"must be >= 0, got {self.sd!r}"))
        if not (math.isfinite(self.rho) and -1 <= self.rho <= 1):
            problems.append(Problem("rho", f"must be in [-1, 1], got {self.rho!r}"))
        _positive(problems, "window_s", self.window_s)
        _positive(problems, "pre_period_s", self.pre_period_s)
        _lifts(problems, "lift", self.lift)
        if problems:
            raise InvalidInput(problems)


Stream = ConversionStream | GaussianStream


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """A simulated experiment's traffic, behaviour and faults.

    Args:
        users: Number of simulated units offered the experiment.
        start_at: When exposures start (timezone-aware).
        streams: Event streams the units emit.
        exposure_period_s: Units are first exposed uniformly over this period.
        seed: Random seed; the same config gives the same frames.
        unit_type: Unit type of the exposures and events.
        id_prefix: Unit ids are ``f"{id_prefix}{i}"``.
        srm_drop: Variant → share of its exposures dropped (an injected SRM).
        exposure_loss: Share of all exposures lost (uniform logging loss).
        event_loss: Share of all events lost (uniform logging loss).
        misassigned_share: Share of exposed units logged under another variant than
            the engine chose (an injected assignment/logging bug).
        crossover_share: Share of exposed units also exposed later to another variant.
        config_version: ``config_version`` written on the exposures.
    """

    users: int
    start_at: datetime
    streams: tuple[Stream, ...] = ()
    exposure_period_s: float = 14 * _DAY_S
    seed: int = 0
    unit_type: str = "user"
    id_prefix: str = "u"
    srm_drop: Mapping[str, float] = field(default_factory=dict)
    exposure_loss: float = 0.0
    event_loss: float = 0.0
    misassigned_share: float = 0.0
    crossover_share: float = 0.0
    config_version: int = 1

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        if isinstance(self.users, bool) or not isinstance(self.users, int) or self.users < 0:
            problems.append(Problem("users", f"must be an int >= 0, got {self.users!r}"))
        if self.start_at.tzinfo is None or self.start_at.utcoffset() is None:
            problems.append(Problem("start_at", "must be timezone-aware"))
        _positive(problems, "exposure_period_s", self.exposure_period_s)
        for variant, share in self.srm_drop.items():
            _fraction(problems, f"srm_drop[{variant!r}]", share)
        for name in ("exposure_loss", "event_loss", "misassigned_share", "crossover_share"):
            _fraction(problems, name, getattr(self, name))
        names = [s.name for s in self.streams]
        for i, s in enumerate(self.streams):
            if not isinstance(s, (ConversionStream, GaussianStream)):
                problems.append(Problem(f"streams[{i}]",
                                        f"expected a stream, got {type(s).__name__}"))
            elif names.count(s.name) > 1:
                problems.append(Problem(f"streams[{i}].name", f"{s.name!r} used twice"))
        if problems:
            raise InvalidInput(problems)
