"""Multiple-testing corrections across the variants × metrics of one analysis.

What belongs here: p-value adjustments (Holm for the family-wise error rate,
Benjamini–Hochberg for the false discovery rate) that take a flat sequence of
p-values and return adjusted ones in the same order. NaN p-values (degenerate
results) are left as NaN and do not count towards the family size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from abwb.errors import InvalidInput
from abwb.stats.config import Correction

__all__ = ["adjust_p_values", "benjamini_hochberg", "holm"]


def _valid(p_values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise InvalidInput(f"expected a 1-D sequence, got shape {p.shape}", path="p_values")
    bad = ~np.isnan(p) & ((p < 0) | (p > 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidInput(f"expected 0 <= p <= 1, got {p[i]}", path=f"p_values[{i}]")
    return p, ~np.isnan(p)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment (controls the family-wise error rate).

    Sorted ascending, p_(i) is multiplied by (m − i + 1), made monotone by a
    running maximum and capped at 1.

    Args:
        p_values: Unadjusted p-values; NaN entries are skipped.

    Returns:
        Adjusted p-values in input order.

    Raises:
        InvalidInput: A p-value outside [0, 1].

    References:
        Holm, S. (1979). "A simple sequentially rejective multiple test procedure".
        Scandinavian Journal of Statistics 6: 65–70.

    Examples:
        >>> holm([0.01, 0.04, 0.03])
        [0.03, 0.06, 0.06]
    """
    p, ok = _valid(p_values)
    out = np.full(p.shape, math.nan)
    vals = p[ok]
    m = vals.size
    if m:
        order = np.argsort(vals, kind="stable")
        adj = np.maximum.accumulate(vals[order] * (m - np.arange(m)))
        res = np.empty(m)
        res[order] = np.minimum(adj, 1.0)
        out[ok] = res
    return [float(x) for x in out]


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg step-up adjustment (controls the false discovery rate).

    Sorted ascending, p_(i) is multiplied by m / i, made monotone from the largest
    down by a running minimum and capped at 1.

    Args:
        p_values: Unadjusted p-values; NaN entries are skipped.

    Returns:
        Adjusted p-values (q-values) in input order.

    Raises:
        InvalidInput: A p-value outside [0, 1].

    References:
        Benjamini, Y. & Hochberg, Y. (1995). "Controlling the false discovery rate".
        JRSS B 57: 289–300.

    Examples:
        >>> benjamini_hochberg([0.01, 0.04, 0.03])
        [0.03, 0.04, 0.04]
    """
    p, ok = _valid(p_values)
    out = np.full(p.shape, math.nan)
    vals = p[ok]
    m = vals.size
    if m:
        order = np.argsort(vals, kind="stable")
        scaled = vals[order] * m / np.arange(1, m + 1)
        adj = np.minimum.accumulate(scaled[::-1])[::-1]
        res = np.empty(m)
        res[order] = np.minimum(adj, 1.0)
        out[ok] = res
    return [float(x) for x in out]


def adjust_p_values(p_values: Sequence[float], method: Correction) -> list[float]:
    """Adjust p-values with the named correction.

    Args:
        p_values: Unadjusted p-values; NaN entries are skipped.
        method: ``none``, ``holm`` or ``bh``.

    Returns:
        Adjusted p-values in input order.

    Raises:
        InvalidInput: Unknown method or a p-value outside [0, 1].

    Examples:
        >>> adjust_p_values([0.01, 0.02], "none")
        [0.01, 0.02]
    """
    if method == "holm":
        return holm(p_values)
    if method == "bh":
        return benjamini_hochberg(p_values)
    if method == "none":
        p, _ = _valid(p_values)
        return [float(x) for x in p]
    raise InvalidInput(f"expected 'none', 'holm' or 'bh', got {method!r}", path="method")
