"""Always-valid (anytime) inference on the difference in means: asymptotic confidence sequences.

What belongs here: the mixture-boundary confidence sequence (CS) for treatment −
control — of means (Welch), CUPED-adjusted means and ratio metrics (delta method),
all one widening step (:func:`always_valid`) over the fixed-horizon estimate —, its
always-valid p-value, and the choice of the mixing parameter from the
planned sample size. A CS can be looked at after every unit without inflating the
false-positive rate; the price is a wider interval than a fixed-horizon CI.
Pre-planned interim looks with alpha spending are in ``group_sequential``; the
sequential SRM check is in ``srm``.

The boundary (Gaussian mixture, two-sided). With n units so far (both arms), the
estimate θ̂ = ȳ_t − ȳ_c, its standard error ŝe (Welch), and a mixing parameter ρ,

    θ̂ ± ŝe · sqrt( (1 + nρ²)/(nρ²) · 2·log( sqrt(1 + nρ²) / α ) )

is a (1 − α) asymptotic confidence sequence (Waudby-Smith et al., Thm 2.2; this is
the normal-mixture SPRT of Robbins / Johari et al. with mixing variance τ² = ρ²·n·ŝe²).
Inverting it, the always-valid p-value is

    p_n = min(1, sqrt(1 + nρ²) · exp( −z² · nρ² / (2(1 + nρ²)) )),  z = θ̂/ŝe,

and its running minimum over looks is also valid.

Tuning ρ. The boundary is tightest at n = n* when (Howard et al. 2021, §3.5;
Waudby-Smith et al., App. B.2)

    ρ² = (−2·log α + log(1 − 2·log α)) / n*,

so we set n* to the planned total sample size: the CS is then narrowest where the
experiment is meant to end, and remains valid before and after.

One-sided alternatives use the same two-sided boundary on the relevant side (valid,
slightly conservative) and report p = 1 when the estimate points the other way.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from abwb.errors import InvalidInput
from abwb.stats.config import AnalysisConfig
from abwb.stats.frequentist import cuped_ttest, ratio_ztest, welch_ttest
from abwb.stats.results import ComparisonResult
from abwb.stats.summary import MeanStats, RatioStats

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "always_valid",
    "always_valid_p_value",
    "confidence_sequence",
    "cs_radius_multiplier",
    "cuped_confidence_sequence",
    "mixing_rho_sq",
    "ratio_confidence_sequence",
]

_DEFAULT = AnalysisConfig()


def mixing_rho_sq(planned_n: float, alpha: float) -> float:
    """Mixing parameter ρ² that makes the CS narrowest at ``planned_n`` units.

    Args:
        planned_n: Planned total units (both arms), > 0.
        alpha: Significance level in (0, 1).

    Returns:
        ρ² = (−2 log α + log(1 − 2 log α)) / planned_n.

    Raises:
        InvalidInput: ``planned_n`` not > 0 or ``alpha`` outside (0, 1).

    References:
        Howard, Ramdas, McAuliffe & Sekhon (2021), "Time-uniform, nonparametric,
        nonasymptotic confidence sequences", Annals of Statistics 49(2), §3.5.

    Examples:
        >>> round(mixing_rho_sq(10_000, 0.05), 8)
        0.00079362
    """
    if not (math.isfinite(planned_n) and planned_n > 0):
        raise InvalidInput(f"expected planned_n > 0, got {planned_n!r}", path="planned_n")
    if not 0.0 < alpha < 1.0:
        raise InvalidInput(f"expected 0 < alpha < 1, got {alpha!r}", path="alpha")
    la = -2.0 * math.log(alpha)
    return (la + math.log1p(la)) / planned_n


def cs_radius_multiplier(n: ArrayLike, planned_n: float, alpha: float) -> NDArray[np.float64]:
    """Multiplier m(n) such that the CS is θ̂ ± m(n)·ŝe (vectorised over ``n``).

    Args:
        n: Units observed so far (both arms), > 0.
        planned_n: Planned total units used to tune ρ.
        alpha: Significance level.

    Returns:
        sqrt((1 + nρ²)/(nρ²) · 2 log(sqrt(1 + nρ²)/α)), same shape as ``n``.

    References:
        Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas (2023), "Time-uniform central
        limit theory and asymptotic confidence sequences", Annals of Statistics, Thm 2.2.

    Examples:
        >>> float(cs_radius_multiplier(10_000, 10_000, 0.05).round(3))
        3.035
    """
    rho2 = mixing_rho_sq(planned_n, alpha)
    v = np.asarray(n, dtype=float) * rho2
    return np.sqrt((1.0 + v) / v * (np.log1p(v) - 2.0 * math.log(alpha)))


def always_valid_p_value(
    z: ArrayLike, n: ArrayLike, planned_n: float, alpha: float
) -> NDArray[np.float64]:
    """Always-valid two-sided p-value at one look (vectorised); take a running min over looks.

    Args:
        z: Standardised estimate θ̂/ŝe.
        n: Units observed so far (both arms).
        planned_n: Planned total units used to tune ρ.
        alpha: Significance level the CS is tuned for.

    Returns:
        min(1, sqrt(1 + nρ²) · exp(−z² nρ² / (2(1 + nρ²)))).

    Examples:
        >>> float(always_valid_p_value(0.0, 100, 100, 0.05))
        1.0
        >>> bool(always_valid_p_value(3.036, 10_000, 10_000, 0.05) <= 0.0501)
        True
    """
    rho2 = mixing_rho_sq(planned_n, alpha)
    v = np.asarray(n, dtype=float) * rho2
    zz = np.asarray(z, dtype=float)
    log_p: NDArray[np.float64] = 0.5 * np.log1p(v) - zz * zz * v / (2.0 * (1.0 + v))
    return np.minimum(1.0, np.exp(log_p))


def always_valid(
    base: ComparisonResult,
    *,
    planned_n: int,
    config: AnalysisConfig = _DEFAULT,
    previous: ComparisonResult | None = None,
    method: str = "asymptotic_cs",
) -> ComparisonResult:
    """Widen a fixed-horizon z-type comparison to the always-valid mixture boundary.

    Every confidence sequence here is this step applied to an asymptotically normal
    estimate: Welch's difference in means, the CUPED-adjusted difference, or the
    delta-method difference of ratios. The interval becomes θ̂ ± m(n)·ŝe (and the
    relative lift the same multiplier on its delta-method SE), the p-value the
    always-valid one. Passing the previous look's result intersects the intervals and
    keeps the running minimum p-value, which is still valid (a CS holds at all times).

    Args:
        base: The fixed-horizon result at the current look (its ``effect_abs``, ``se``,
            ``effect_rel`` and ``se_rel`` are used).
        planned_n: Planned total units (both arms) to tune the mixing parameter.
        config: Alpha and alternative.
        previous: This method's result at the previous look, if any.
        method: Method name written into the result.

    Returns:
        The always-valid result; degenerate ``base`` keeps its status and NaN.

    Raises:
        InvalidInput: ``planned_n`` not a positive int.

    References:
        Waudby-Smith et al. (2023), "Time-uniform central limit theory and asymptotic
        confidence sequences", Thm 2.2; Lindon, Ham, Tingley & Bojinov (2022),
        "Anytime-valid linear models and regression adjusted causal inference"
        (regression-adjusted, i.e. CUPED, estimators).

    Examples:
        >>> from abwb.stats.frequentist import cuped_ttest, ratio_ztest, welch_ttest
        >>> c = MeanStats(n=5000, total=5000.0, total_sq=10000.0)
        >>> t = MeanStats(n=5000, total=5400.0, total_sq=10800.0)
        >>> r = always_valid(welch_ttest(c, t), planned_n=10_000)
        >>> r.method, r.ci_high - r.ci_low > 2 * 1.96 * r.se
        ('asymptotic_cs', True)
    """
    if isinstance(planned_n, bool) or not isinstance(planned_n, (int, np.integer)):
        raise InvalidInput(f"expected an int, got {planned_n!r}", path="planned_n")
    base = replace(base, method=method, df=math.inf)
    if base.status not in ("ok", "zero_control_mean"):
        return base
    n = base.n_control + base.n_treatment
    mult = float(cs_radius_multiplier(n, planned_n, config.alpha))
    z = base.effect_abs / base.se
    p = float(always_valid_p_value(z, n, planned_n, config.alpha))
    lo, hi = base.effect_abs - mult * base.se, base.effect_abs + mult * base.se
    lo_rel = base.effect_rel - mult * base.se_rel
    hi_rel = base.effect_rel + mult * base.se_rel
    # An undefined relative interval (rel_reason set, se_rel NaN) stays NaN on both sides.
    rel_inf = math.nan if math.isnan(base.se_rel) else math.inf
    if config.alternative == "greater":
        hi, hi_rel = math.inf, rel_inf
        p = p if z > 0 else 1.0
    elif config.alternative == "less":
        lo, lo_rel = -math.inf, -rel_inf
        p = p if z < 0 else 1.0
    if previous is not None and previous.status in ("ok", "zero_control_mean"):
        lo, hi = max(lo, previous.ci_low), min(hi, previous.ci_high)
        lo_rel = max(lo_rel, previous.ci_low_rel)
        hi_rel = min(hi_rel, previous.ci_high_rel)
        p = min(p, previous.p_value)
    return replace(
        base,
        statistic=z,
        p_value=p,
        ci_low=lo,
        ci_high=hi,
        ci_low_rel=lo_rel,
        ci_high_rel=hi_rel,
    )


def confidence_sequence(
    control: MeanStats,
    treatment: MeanStats,
    *,
    planned_n: int,
    config: AnalysisConfig = _DEFAULT,
    previous: ComparisonResult | None = None,
) -> ComparisonResult:
    """Always-valid CI and p-value for the difference in means at the current look.

    The point estimate and ŝe are Welch's (so 0/1 conversion metrics work too);
    the interval is widened to the mixture boundary (see the module docstring and
    :func:`always_valid`).

    Args:
        control: Cumulative control statistics.
        treatment: Cumulative treatment statistics.
        planned_n: Planned total units (both arms) to tune the mixing parameter.
        config: Alpha and alternative.
        previous: This function's result at the previous look, if any.

    Returns:
        A ``ComparisonResult`` with method ``asymptotic_cs``; ``statistic`` is z and
        ``df`` is infinite. Degenerate data gives the Welch status and NaN.

    Raises:
        InvalidInput: Bad ``planned_n`` or arguments.

    References:
        Waudby-Smith et al. (2023), "Time-uniform central limit theory and asymptotic
        confidence sequences"; Howard et al. (2021), "Time-uniform, nonparametric,
        nonasymptotic confidence sequences"; Johari, Koomen, Pekelis & Walsh (2017),
        "Peeking at A/B tests", KDD.

    Examples:
        >>> c = MeanStats(n=5000, total=5000.0, total_sq=10000.0)
        >>> t = MeanStats(n=5000, total=5400.0, total_sq=10800.0)
        >>> r = confidence_sequence(c, t, planned_n=10_000)
        >>> r.method, round(r.effect_abs, 2), r.p_value < 0.05
        ('asymptotic_cs', 0.08, True)
    """
    _check_planned(planned_n)
    return always_valid(welch_ttest(control, treatment, config=config), planned_n=planned_n,
                        config=config, previous=previous)


def cuped_confidence_sequence(
    control: MeanStats,
    treatment: MeanStats,
    *,
    planned_n: int,
    config: AnalysisConfig = _DEFAULT,
    previous: ComparisonResult | None = None,
) -> ComparisonResult:
    """Always-valid CI and p-value for the CUPED-adjusted difference in means.

    The CUPED estimate and its SE (:func:`abwb.stats.frequentist.cuped_ttest`) widened
    to the mixture boundary, so a pre-period covariate narrows the always-valid
    interval by the same variance reduction as the fixed-horizon one.

    Args:
        control: Cumulative control statistics with a covariate.
        treatment: Cumulative treatment statistics with a covariate.
        planned_n: Planned total units (both arms) to tune the mixing parameter.
        config: Alpha and alternative.
        previous: This function's result at the previous look, if any.

    Returns:
        A ``ComparisonResult`` with method ``asymptotic_cs_cuped``.

    Raises:
        InvalidInput: Bad ``planned_n``, or statistics without a covariate.

    References:
        Lindon, Ham, Tingley & Bojinov (2022), "Anytime-valid linear models and
        regression adjusted causal inference".
    """
    _check_planned(planned_n)
    return always_valid(cuped_ttest(control, treatment, config=config), planned_n=planned_n,
                        config=config, previous=previous, method="asymptotic_cs_cuped")


def ratio_confidence_sequence(
    control: RatioStats,
    treatment: RatioStats,
    *,
    planned_n: int,
    config: AnalysisConfig = _DEFAULT,
    previous: ComparisonResult | None = None,
) -> ComparisonResult:
    """Always-valid CI and p-value for a ratio metric (Σnum / Σden per arm).

    The delta-method estimate and SE (:func:`abwb.stats.frequentist.ratio_ztest`)
    widened to the same mixture boundary as the means.

    Args:
        control: Cumulative control ratio statistics.
        treatment: Cumulative treatment ratio statistics.
        planned_n: Planned total units (both arms) to tune the mixing parameter.
        config: Alpha and alternative.
        previous: This function's result at the previous look, if any.

    Returns:
        A ``ComparisonResult`` with method ``asymptotic_cs_ratio``.

    Raises:
        InvalidInput: Bad ``planned_n``.

    Examples:
        >>> c = RatioStats(10_000, 5000.0, 9000.0, 20_000.0, 50_000.0, 12_000.0)
        >>> t = RatioStats(10_000, 5600.0, 9900.0, 20_000.0, 50_000.0, 13_000.0)
        >>> r = ratio_confidence_sequence(c, t, planned_n=20_000)
        >>> r.method, r.ci_low < r.effect_abs < r.ci_high
        ('asymptotic_cs_ratio', True)
    """
    _check_planned(planned_n)
    return always_valid(ratio_ztest(control, treatment, config=config), planned_n=planned_n,
                        config=config, previous=previous, method="asymptotic_cs_ratio")


def _check_planned(planned_n: int) -> None:
    if isinstance(planned_n, bool) or not isinstance(planned_n, (int, np.integer)):
        raise InvalidInput(f"expected an int, got {planned_n!r}", path="planned_n")
