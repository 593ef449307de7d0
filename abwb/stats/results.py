"""Result objects returned by the statistics engine, and the status vocabulary.

What belongs here: frozen result dataclasses shared by several methods
(``ComparisonResult`` for a control-vs-treatment comparison of one metric), the
``Status`` codes for degenerate data, and the helper that builds an all-NaN result.
Method-specific results that only one module produces live beside that module.

Degenerate data never raises: it yields a result whose ``status`` says what went
wrong and whose estimates are NaN, so a 40-metric readout still finishes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from abwb.stats.config import Alternative

__all__ = ["ComparisonResult", "Status", "nan_comparison"]

Status = Literal[
    "ok",
    "empty_arm",
    "insufficient_n",
    "zero_variance",
    "zero_denominator",
    "zero_control_mean",
    "diagnostics_failed",
]
"""Why a result is (or is not) usable.

- ``ok``: estimates are valid.
- ``empty_arm``: an arm has no units.
- ``insufficient_n``: an arm has fewer units than the method needs (n < 2 for variances).
- ``zero_variance``: the standard error of the effect is 0, so no test is possible.
- ``zero_denominator``: a ratio metric has Σden = 0 in an arm.
- ``zero_control_mean``: absolute effect is valid but the relative lift is undefined.
- ``diagnostics_failed``: MCMC diagnostics (r-hat, ESS, divergences) failed.
"""

_NAN = math.nan


@dataclass(frozen=True, slots=True)
class ComparisonResult:
    """One metric, one treatment compared with control.

    Absolute effect is ``mean_treatment - mean_control`` with CI ``[ci_low, ci_high]``;
    relative effect is ``mean_treatment / mean_control - 1`` with CI
    ``[ci_low_rel, ci_high_rel]`` computed by ``rel_ci_method``. One-sided
    alternatives give one-sided CIs (one bound infinite).

    Attributes:
        method: Name of the method, e.g. ``welch_t``, ``two_proportion_z``.
        status: See ``Status``.
        metric: Metric name (empty when called outside ``analyze``).
        control: Control variant name.
        treatment: Treatment variant name.
        n_control: Units in control.
        n_treatment: Units in treatment.
        mean_control: Control mean (CUPED-adjusted for CUPED).
        mean_treatment: Treatment mean (CUPED-adjusted for CUPED).
        var_control: Per-unit variance in control (adjusted for CUPED).
        var_treatment: Per-unit variance in treatment (adjusted for CUPED).
        effect_abs: Absolute effect.
        se: Standard error of the absolute effect.
        ci_low: Lower CI bound of the absolute effect.
        ci_high: Upper CI bound of the absolute effect.
        statistic: Test statistic (t or z).
        df: Degrees of freedom (inf for z-tests).
        p_value: Unadjusted p-value.
        effect_rel: Relative effect (lift).
        se_rel: Standard error of the relative effect.
        ci_low_rel: Lower CI bound of the relative effect.
        ci_high_rel: Upper CI bound of the relative effect.
        rel_ci_method: How the relative CI was computed (``delta``).
        alpha: Significance level used.
        alternative: Alternative hypothesis used.
        variance_reduction: CUPED share of variance removed (NaN for other methods).
        p_value_adjusted: p-value after the multiple-testing correction (equals
            ``p_value`` until a correction is applied).
        correction: Correction applied to ``p_value_adjusted``.
        rel_reason: Why the relative CI is NaN while the absolute one is not: ``""``
            (it is defined), ``zero_control_mean``, or ``degenerate`` (its
            delta-method variance vanishes, e.g. an all-zero treatment arm, while the
            absolute variance does not; a [-100 %, -100 %] interval would be false
            certainty). An undefined relative interval establishes nothing.
    """

    method: str
    status: Status
    metric: str
    control: str
    treatment: str
    n_control: int
    n_treatment: int
    mean_control: float
    mean_treatment: float
    var_control: float
    var_treatment: float
    effect_abs: float
    se: float
    ci_low: float
    ci_high: float
    statistic: float
    df: float
    p_value: float
    effect_rel: float
    se_rel: float
    ci_low_rel: float
    ci_high_rel: float
    rel_ci_method: str
    alpha: float
    alternative: Alternative
    variance_reduction: float = _NAN
    p_value_adjusted: float = _NAN
    correction: str = "none"
    rel_reason: str = ""

    @property
    def significant(self) -> bool:
        """Whether the (adjusted, if corrected) p-value is below ``alpha``."""
        p = self.p_value_adjusted if not math.isnan(self.p_value_adjusted) else self.p_value
        return self.status in ("ok", "zero_control_mean") and p < self.alpha


def nan_comparison(
    *,
    method: str,
    status: Status,
    n_control: int,
    n_treatment: int,
    mean_control: float = _NAN,
    mean_treatment: float = _NAN,
    var_control: float = _NAN,
    var_treatment: float = _NAN,
    alpha: float,
    alternative: Alternative,
    rel_ci_method: str = "delta",
) -> ComparisonResult:
    """Build a comparison result whose estimates are all NaN, for degenerate data.

    Args:
        method: Method name.
        status: Why the estimates are missing.
        n_control: Units in control.
        n_treatment: Units in treatment.
        mean_control: Control mean if known.
        mean_treatment: Treatment mean if known.
        var_control: Control variance if known.
        var_treatment: Treatment variance if known.
        alpha: Significance level.
        alternative: Alternative hypothesis.
        rel_ci_method: Relative CI method name.

    Returns:
        The result with NaN effect, SE, CI and p-value.

    Examples:
        >>> r = nan_comparison(method="welch_t", status="empty_arm", n_control=0,
        ...                    n_treatment=5, alpha=0.05, alternative="two-sided")
        >>> r.status, r.p_value
        ('empty_arm', nan)
    """
    return ComparisonResult(
        method=method,
        status=status,
        metric="",
        control="control",
        treatment="treatment",
        n_control=n_control,
        n_treatment=n_treatment,
        mean_control=mean_control,
        mean_treatment=mean_treatment,
        var_control=var_control,
        var_treatment=var_treatment,
        effect_abs=_NAN,
        se=_NAN,
        ci_low=_NAN,
        ci_high=_NAN,
        statistic=_NAN,
        df=_NAN,
        p_value=_NAN,
        effect_rel=_NAN,
        se_rel=_NAN,
        ci_low_rel=_NAN,
        ci_high_rel=_NAN,
        rel_ci_method=rel_ci_method,
        alpha=alpha,
        alternative=alternative,
    )
