"""Sample-ratio-mismatch (SRM) checks: do observed arm sizes match the configured weights?

What belongs here: the fixed-horizon chi-square SRM test and the sequential
(anytime-valid) Dirichlet-multinomial SRM test for continuous monitoring, and
their result object. Both take unit counts per variant and the configured
weights (any positive scale; they are normalised because only proportions matter).

An SRM means assignment or logging is broken, so the default alert threshold is
strict (p < 0.001): with dozens of experiments checked daily, 0.05 would cry wolf.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from abwb.errors import InvalidInput

__all__ = ["SrmResult", "sequential_srm_p_values", "sequential_srm_test", "srm_test"]


@dataclass(frozen=True, slots=True)
class SrmResult:
    """Outcome of an SRM check.

    Attributes:
        method: ``chi_square`` or ``dirichlet_multinomial_sequential``.
        status: ``ok``, or ``empty_arm`` when there are no units at all.
        variants: Variant names in the order of the other tuples.
        n: Observed units per variant.
        expected: Expected units per variant under the configured weights.
        statistic: Chi-square statistic, or the Bayes factor for the sequential test.
        p_value: p-value (always-valid for the sequential test).
        threshold: Alert threshold.
        alert: True when ``p_value < threshold``.
    """

    method: str
    status: str
    variants: tuple[str, ...]
    n: tuple[int, ...]
    expected: tuple[float, ...]
    statistic: float
    p_value: float
    threshold: float
    alert: bool


def _prepare(
    counts: Mapping[str, int], weights: Mapping[str, float], threshold: float
) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    if set(counts) != set(weights):
        raise InvalidInput(
            f"expected the same variants as weights {sorted(weights)}, got {sorted(counts)}",
            path="counts",
        )
    if len(counts) < 2:
        raise InvalidInput(f"expected at least 2 variants, got {len(counts)}", path="counts")
    if not 0.0 < threshold < 1.0:
        raise InvalidInput(f"expected 0 < threshold < 1, got {threshold!r}", path="threshold")
    names = tuple(weights)
    for name in names:
        c, w = counts[name], weights[name]
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 0:
            raise InvalidInput(f"expected an int >= 0, got {c!r}", path=f"counts[{name!r}]")
        if not (math.isfinite(w) and w > 0):
            raise InvalidInput(f"expected a weight > 0, got {w!r}", path=f"weights[{name!r}]")
    x = np.array([counts[k] for k in names], dtype=float)
    p = np.array([weights[k] for k in names], dtype=float)
    # Weights may be given as 50/50, 0.5/0.5 or 1/1: only proportions matter.
    return names, x, p / p.sum()


def srm_test(
    counts: Mapping[str, int], weights: Mapping[str, float], *, threshold: float = 0.001
) -> SrmResult:
    """Pearson chi-square goodness-of-fit test of arm sizes against configured weights.

    Args:
        counts: Units per variant.
        weights: Configured traffic weight per variant (normalised internally).
        threshold: Alert when the p-value is below this (default 0.001).

    Returns:
        The result; status ``empty_arm`` with NaN when no unit was counted.

    Raises:
        InvalidInput: Variants differ, negative counts, non-positive weights, bad threshold.

    References:
        Fabijan et al. (2019), "Diagnosing Sample Ratio Mismatch in Online Controlled
        Experiments", KDD.

    Examples:
        >>> r = srm_test({"control": 5100, "treatment": 4900},
        ...              {"control": 0.5, "treatment": 0.5})
        >>> round(r.p_value, 4), r.alert
        (0.0455, False)
    """
    names, x, p = _prepare(counts, weights, threshold)
    total = x.sum()
    expected = total * p
    if total == 0:
        return SrmResult("chi_square", "empty_arm", names, tuple(int(v) for v in x),
                         tuple(expected), math.nan, math.nan, threshold, False)
    stat = float(((x - expected) ** 2 / expected).sum())
    p_value = float(special.chdtrc(len(names) - 1, stat))
    return SrmResult("chi_square", "ok", names, tuple(int(v) for v in x), tuple(expected),
                     stat, p_value, threshold, p_value < threshold)


def _log_bayes_factor(x: np.ndarray, p: np.ndarray, concentration: float) -> np.ndarray:
    """Log BF of Dirichlet(concentration·p)-multinomial vs multinomial(p); x is (..., k)."""
    a = concentration * p
    log_marginal = (
        special.gammaln(a.sum())
        - special.gammaln(a.sum() + x.sum(axis=-1))
        + (special.gammaln(a + x) - special.gammaln(a)).sum(axis=-1)
    )
    log_null = (special.xlogy(x, p)).sum(axis=-1)
    return np.asarray(log_marginal - log_null)


def sequential_srm_test(
    counts: Mapping[str, int],
    weights: Mapping[str, float],
    *,
    threshold: float = 0.001,
    concentration: float = 100.0,
    previous: SrmResult | None = None,
) -> SrmResult:
    """Anytime-valid SRM test: Dirichlet-multinomial mixture Bayes factor (Lindon & Malek).

    Under H0 (counts ~ Multinomial(p0)) the Bayes factor of a Dirichlet(c·p0) mixture
    alternative against H0,
    BF = [Γ(c)/Γ(c+N)] Π Γ(c p0_i + x_i)/Γ(c p0_i) / Π p0_i^{x_i},
    is a non-negative martingale with mean 1, so by Ville's inequality
    P(sup_t BF_t ≥ 1/α) ≤ α: the p-value min(1, 1/max BF) stays valid however often
    it is checked. Pass the previous look's result as ``previous`` to carry the
    running minimum of the p-value.

    Args:
        counts: Cumulative units per variant.
        weights: Configured traffic weight per variant (normalised internally).
        threshold: Alert when the always-valid p-value is below this.
        concentration: Prior concentration c (larger = prior nearer H0, more power
            against small imbalances at large N, less against gross ones early).
        previous: Result of the previous look on the same experiment, if any.

    Returns:
        The result; ``statistic`` is the current Bayes factor.

    Raises:
        InvalidInput: As ``srm_test``, or ``concentration`` not > 0.

    References:
        Lindon, M. & Malek, A. (2022). "Anytime-Valid Inference For Multinomial
        Count Data". NeurIPS.

    Examples:
        >>> w = {"control": 1.0, "treatment": 1.0}
        >>> sequential_srm_test({"control": 5000, "treatment": 5050}, w).alert
        False
        >>> sequential_srm_test({"control": 5500, "treatment": 4500}, w).alert
        True
    """
    if not (math.isfinite(concentration) and concentration > 0):
        raise InvalidInput(f"expected > 0, got {concentration!r}", path="concentration")
    names, x, p = _prepare(counts, weights, threshold)
    expected = x.sum() * p
    log_bf = float(_log_bayes_factor(x, p, concentration))
    p_value = min(1.0, math.exp(-log_bf)) if log_bf > -700 else 1.0
    if previous is not None:
        if previous.variants != names:
            raise InvalidInput(
                f"expected variants {previous.variants}, got {names}", path="previous"
            )
        if not math.isnan(previous.p_value):
            p_value = min(p_value, previous.p_value)
    return SrmResult(
        "dirichlet_multinomial_sequential",
        "ok" if x.sum() > 0 else "empty_arm",
        names,
        tuple(int(v) for v in x),
        tuple(expected),
        math.exp(min(log_bf, 700.0)),
        p_value,
        threshold,
        p_value < threshold,
    )


def sequential_srm_p_values(
    counts: Sequence[Sequence[int]] | np.ndarray,
    weights: Sequence[float],
    *,
    concentration: float = 100.0,
) -> np.ndarray:
    """Vectorised always-valid SRM p-values along the last-but-one axis (looks).

    For simulations and monitoring back-fills: ``counts`` has shape
    ``(..., looks, k)`` of cumulative counts; the result has shape ``(..., looks)``
    and is the running minimum of min(1, 1/BF).

    Args:
        counts: Cumulative counts, last axis = variants.
        weights: Configured weights (normalised internally).
        concentration: Prior concentration.

    Returns:
        Always-valid p-values per look.

    Examples:
        >>> sequential_srm_p_values([[10, 12], [500, 520]], [1, 1]).round(3).tolist()
        [1.0, 1.0]
    """
    x = np.asarray(counts, dtype=float)
    p = np.asarray(weights, dtype=float)
    p = p / p.sum()
    log_bf = _log_bayes_factor(x, p, concentration)
    p_now = np.minimum(1.0, np.exp(-np.maximum(log_bf, -700.0)))
    return np.minimum.accumulate(p_now, axis=-1)
