"""Monitoring configuration: thresholds and switches of the monitoring job, validated.

What belongs here: ``MonitorConfig`` only. Checks and the job take it explicitly;
nothing reads process-wide defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from abwb.errors import InvalidInput, Problem
from abwb.stats.methods import ENGINES, Engine

__all__ = ["MonitorConfig"]

_OPEN_UNIT = (
    "alpha_guardrail", "alpha_significance", "srm_threshold", "srm_pause_p", "drop_p",
    "crossover_max_rate", "drop_ratio",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class MonitorConfig:
    """Thresholds of the monitoring checks and what the monitor may do on its own.

    Args:
        alpha_guardrail: Family-wise error budget of the guardrail checks of one
            experiment; split Bonferroni over guardrails × treatments, one-sided.
        alpha_significance: Budget of the primary-metric significance check (info).
        planned_n: Planned total units, used to tune the confidence sequences'
            mixing parameter (narrowest there; valid at every sample size).
        min_units_per_arm: Metric checks wait for this many units in every arm.
        srm_threshold: Alert when the always-valid SRM p-value falls below this.
        srm_concentration: Dirichlet prior concentration of the sequential SRM test.
        srm_min_units: SRM waits for this many units in total.
        pause_on_srm: Pause a running experiment on severe SRM.
        srm_pause_p: SRM p-value below which the SRM is "severe".
        crossover_max_rate: Alert when more than this share of units saw two variants.
        crossover_min_units: Crossover waits for this many units.
        no_traffic_s: A running subject with no exposure for this long alerts.
        drop_p: Poisson tail probability below which a drop in exposures alerts.
        drop_ratio: ... and only when fewer than this share of the expected arrived.
        drop_min_expected: The drop check needs this many expected exposures.
        trailing_passes: Passes forming the trailing exposure rate.
        lateness_s: Rows younger than this are left for the next pass (late arrivals).
        auto_rollback: Allow rolling back rollouts whose ``auto_rollback`` is on.
        engine: How the metric checks compare arms, through the same method registry
            as the readout (:func:`abwb.stats.methods.method_for`). ``sequential``
            (the default) is the only engine whose error rates hold however often the
            monitor looks; the others exist so a monitor can mirror a readout's analysis.
    """

    alpha_guardrail: float = 0.05
    alpha_significance: float = 0.05
    planned_n: int = 100_000
    min_units_per_arm: int = 100
    srm_threshold: float = 0.001
    srm_concentration: float = 100.0
    srm_min_units: int = 100
    pause_on_srm: bool = False
    srm_pause_p: float = 1e-6
    crossover_max_rate: float = 0.01
    crossover_min_units: int = 200
    no_traffic_s: float = 1800.0
    drop_p: float = 0.001
    drop_ratio: float = 0.5
    drop_min_expected: float = 20.0
    trailing_passes: int = 10
    lateness_s: float = 60.0
    auto_rollback: bool = True
    engine: Engine = "sequential"

    def __post_init__(self) -> None:
        found = (_problem(f.name, f.type, getattr(self, f.name)) for f in fields(self)
                 if f.name != "engine")
        problems = [p for p in found if p is not None]
        if self.engine not in ENGINES:
            problems.append(Problem("MonitorConfig.engine",
                                    f"expected one of {list(ENGINES)}, got {self.engine!r}"))
        if problems:
            raise InvalidInput(problems)


def _problem(name: str, kind: object, value: object) -> Problem | None:
    """The problem with one field's value, if any."""
    path = f"MonitorConfig.{name}"
    if kind == "bool":
        return None if isinstance(value, bool) else Problem(path, f"expected a bool, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return Problem(path, f"expected a number, got {value!r}")
    if kind == "int" and not isinstance(value, int):
        return Problem(path, f"expected an int, got {value!r}")
    if not math.isfinite(value):
        return Problem(path, f"expected a finite number, got {value!r}")
    if name in _OPEN_UNIT:
        if not 0.0 < value < 1.0:
            return Problem(path, f"expected 0 < value < 1, got {value!r}")
    elif name in ("planned_n", "trailing_passes", "srm_concentration"):
        if not value > 0:
            return Problem(path, f"expected a value > 0, got {value!r}")
    elif value < 0:
        return Problem(path, f"expected a value >= 0, got {value!r}")
    return None
