"""Power, minimum detectable effect (MDE) and sample size for a two-arm comparison of means.

What belongs here: planning calculations before an experiment runs. They use the
same normal (z) or Student t reference as the fixed-horizon tests in
``frequentist`` and accept a CUPED ``variance_reduction`` (≈ ρ² for a covariate
with correlation ρ), which shrinks the per-unit variance to ``var * (1 - variance_reduction)``.

Conventions (same as statsmodels' ``NormalIndPower`` / ``TTestIndPower``):
standardized effect d = effect_abs / sqrt(var_adj); effective size
n_eff = 1 / (1/n_control + 1/n_treatment) with n_treatment = treatment_ratio · n_control;
for a two-sided test both rejection tails count towards power.
For a proportion with baseline rate p use ``var = p * (1 - p)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from scipy import optimize, special, stats

from abwb.errors import InvalidInput
from abwb.stats.config import AnalysisConfig

__all__ = ["Distribution", "SampleSizeResult", "compute_power", "mde", "sample_size"]

Distribution = Literal["normal", "t"]
"""Reference distribution: ``normal`` (z-test) or ``t`` (pooled-df t-test, df = n_c + n_t − 2)."""

_DEFAULT = AnalysisConfig()


@dataclass(frozen=True, slots=True)
class SampleSizeResult:
    """Units needed per arm to reach the target power.

    Attributes:
        n_control: Control units (rounded up).
        n_treatment: Treatment units (rounded up).
        n_total: ``n_control + n_treatment``.
        n_control_exact: Unrounded solution for control.
        power: Power achieved at the rounded sizes.
    """

    n_control: int
    n_treatment: int
    n_total: int
    n_control_exact: float
    power: float


def _check_positive(value: float, name: str, *, allow_zero: bool = False) -> None:
    ok = math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidInput(f"expected a finite number {bound}, got {value!r}", path=name)


def _check_common(var: float, treatment_ratio: float, variance_reduction: float) -> None:
    _check_positive(var, "var")
    _check_positive(treatment_ratio, "treatment_ratio")
    if not (math.isfinite(variance_reduction) and 0.0 <= variance_reduction < 1.0):
        raise InvalidInput(
            f"expected 0 <= variance_reduction < 1, got {variance_reduction!r}",
            path="variance_reduction",
        )


def _power_std(
    d: float, n_control: float, ratio: float, config: AnalysisConfig, distribution: Distribution
) -> float:
    """Power for standardized effect ``d`` (statsmodels' formulas, both tails when two-sided)."""
    n_treatment = n_control * ratio
    n_eff = 1.0 / (1.0 / n_control + 1.0 / n_treatment)
    a = config.alpha / 2.0 if config.alternative == "two-sided" else config.alpha
    shift = d * math.sqrt(n_eff)
    total = 0.0
    if distribution == "normal":
        crit = float(special.ndtri(1.0 - a))
        if config.alternative in ("two-sided", "greater"):
            total += float(special.ndtr(shift - crit))
        if config.alternative in ("two-sided", "less"):
            total += float(special.ndtr(-crit - shift))
        return total
    df = n_control + n_treatment - 2.0
    crit = float(special.stdtrit(df, 1.0 - a))
    if config.alternative in ("two-sided", "greater"):
        total += _finite_or(float(stats.nct.sf(crit, df, shift)), shift - crit)
    if config.alternative in ("two-sided", "less"):
        total += _finite_or(float(stats.nct.cdf(-crit, df, shift)), -crit - shift)
    return total


def _finite_or(value: float, z: float) -> float:
    # scipy's noncentral t returns NaN for very large noncentrality; there the
    # t tail is indistinguishable from the normal one (0 or 1 to double precision).
    return value if math.isfinite(value) else float(special.ndtr(z))


def compute_power(
    *,
    effect_abs: float,
    var: float,
    n_control: float,
    treatment_ratio: float = 1.0,
    variance_reduction: float = 0.0,
    config: AnalysisConfig = _DEFAULT,
    distribution: Distribution = "normal",
) -> float:
    """Probability of rejecting H0 when the true effect is ``effect_abs``.

    Args:
        effect_abs: True absolute effect (treatment − control).
        var: Per-unit variance of the metric (before CUPED).
        n_control: Control units (> 1 for the t distribution).
        treatment_ratio: n_treatment / n_control.
        variance_reduction: CUPED variance reduction in [0, 1), ≈ ρ².
        config: Alpha and alternative.
        distribution: ``normal`` or ``t``.

    Returns:
        Power in [0, 1].

    Raises:
        InvalidInput: Non-positive ``var``, ``n_control`` or ``treatment_ratio``, or
            ``variance_reduction`` outside [0, 1).

    References:
        Chow, Shao & Wang (2008), Sample Size Calculations in Clinical Research, §3.2.

    Examples:
        >>> round(compute_power(effect_abs=0.1, var=1.0, n_control=1570), 3)
        0.8
        >>> round(compute_power(effect_abs=0.1, var=1.0, n_control=1570, variance_reduction=0.5), 3)
        0.977
    """
    _check_common(var, treatment_ratio, variance_reduction)
    _check_positive(n_control, "n_control")
    if not math.isfinite(effect_abs):
        raise InvalidInput(f"expected a finite number, got {effect_abs!r}", path="effect_abs")
    d = effect_abs / math.sqrt(var * (1.0 - variance_reduction))
    return _power_std(d, n_control, treatment_ratio, config, distribution)


def sample_size(
    *,
    effect_abs: float,
    var: float,
    target_power: float = 0.8,
    treatment_ratio: float = 1.0,
    variance_reduction: float = 0.0,
    config: AnalysisConfig = _DEFAULT,
    distribution: Distribution = "normal",
) -> SampleSizeResult:
    """Units per arm needed to detect ``effect_abs`` with probability ``target_power``.

    Solves ``compute_power(n_control) = target_power`` with Brent's method (no closed-form
    shortcut, so the far tail of a two-sided test is included exactly).

    Args:
        effect_abs: Effect to detect (≠ 0; its sign must match a one-sided alternative).
        var: Per-unit variance of the metric (before CUPED).
        target_power: Desired power in (alpha, 1).
        treatment_ratio: n_treatment / n_control.
        variance_reduction: CUPED variance reduction in [0, 1), ≈ ρ².
        config: Alpha and alternative.
        distribution: ``normal`` or ``t``.

    Returns:
        The rounded-up sizes and the power they achieve.

    Raises:
        InvalidInput: Bad argument, or the effect points away from a one-sided alternative.

    Examples:
        >>> r = sample_size(effect_abs=0.1, var=1.0)
        >>> r.n_control, r.n_total
        (1570, 3140)
    """
    _check_common(var, treatment_ratio, variance_reduction)
    if not (math.isfinite(effect_abs) and effect_abs != 0.0):
        raise InvalidInput(f"expected a finite non-zero effect, got {effect_abs!r}",
                           path="effect_abs")
    if not config.alpha < target_power < 1.0:
        raise InvalidInput(
            f"expected alpha < target_power < 1, got {target_power!r}", path="target_power"
        )
    wrong_way = (config.alternative == "greater" and effect_abs < 0) or (
        config.alternative == "less" and effect_abs > 0
    )
    if wrong_way:
        raise InvalidInput(
            f"effect {effect_abs} points away from alternative {config.alternative!r}",
            path="effect_abs",
        )
    d = effect_abs / math.sqrt(var * (1.0 - variance_reduction))
    lo = 2.0 if distribution == "t" else 1e-6

    def gap(n: float) -> float:
        return _power_std(d, n, treatment_ratio, config, distribution) - target_power

    if gap(lo) >= 0:
        n_exact = lo
    else:
        hi = 10.0
        while gap(hi) < 0:
            hi *= 10.0
        n_exact = float(optimize.brentq(gap, lo, hi, xtol=1e-10, rtol=1e-14))
    n_c = math.ceil(n_exact - 1e-9)
    n_t = math.ceil(n_c * treatment_ratio - 1e-9)
    achieved = _power_std(d, n_c, n_t / n_c, config, distribution)
    return SampleSizeResult(n_c, n_t, n_c + n_t, n_exact, achieved)


def mde(
    *,
    var: float,
    n_control: float,
    target_power: float = 0.8,
    treatment_ratio: float = 1.0,
    variance_reduction: float = 0.0,
    config: AnalysisConfig = _DEFAULT,
    distribution: Distribution = "normal",
) -> float:
    """Smallest absolute effect detected with probability ``target_power``.

    Divide by the baseline mean for a relative MDE. For ``less`` the MDE is
    returned as a negative number.

    Args:
        var: Per-unit variance of the metric (before CUPED).
        n_control: Control units.
        target_power: Desired power in (alpha, 1).
        treatment_ratio: n_treatment / n_control.
        variance_reduction: CUPED variance reduction in [0, 1), ≈ ρ².
        config: Alpha and alternative.
        distribution: ``normal`` or ``t``.

    Returns:
        The MDE in the metric's units.

    Raises:
        InvalidInput: Bad argument.

    Examples:
        >>> round(mde(var=1.0, n_control=1570), 4)
        0.1
    """
    _check_common(var, treatment_ratio, variance_reduction)
    _check_positive(n_control, "n_control")
    if not config.alpha < target_power < 1.0:
        raise InvalidInput(
            f"expected alpha < target_power < 1, got {target_power!r}", path="target_power"
        )
    sign = -1.0 if config.alternative == "less" else 1.0

    def gap(d: float) -> float:
        return _power_std(sign * d, n_control, treatment_ratio, config, distribution) - (
            target_power
        )

    hi = 1.0
    while gap(hi) < 0:
        hi *= 2.0
    d = float(optimize.brentq(gap, 0.0, hi, xtol=1e-14, rtol=1e-14))
    return sign * d * math.sqrt(var * (1.0 - variance_reduction))
