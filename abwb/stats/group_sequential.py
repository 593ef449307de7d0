"""Group-sequential designs: pre-planned interim looks with Lan–DeMets alpha spending.

What belongs here: the spending functions (O'Brien–Fleming-type, Pocock-type),
the computation of z-boundaries for planned information fractions by recursive
numerical integration, the design object and the per-look decision. Continuous,
unplanned monitoring belongs in ``sequential`` instead.

Convention (as gsDesign's symmetric two-sided design, ``test.type = 2``): a
two-sided test at level α spends α/2 on each side with the one-sided spending
function at level α/2; a one-sided test spends α on its side.

Computation: under H0 the z-statistics at information fractions t_1 < … < t_K are
Z_k = S_k/√t_k with S a Brownian motion. The sub-density of Z_k on the
continuation region is carried from look to look on a Simpson grid
(Armitage, McPherson & Rowe 1969; Jennison & Turnbull 2000, ch. 19), and each
boundary is solved by Brent's method so that the probability of first crossing
at look k equals the alpha spent between t_{k−1} and t_k.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import optimize, special

from abwb.errors import InvalidInput
from abwb.stats.config import Alternative

__all__ = [
    "GroupSequentialDesign",
    "GroupSequentialResult",
    "SpendingFunction",
    "alpha_spent",
    "group_sequential_design",
]

SpendingFunction = Literal["obrien_fleming", "pocock"]
"""Lan–DeMets spending families."""

_Z_MAX = 37.0  # |z| beyond this has probability below float resolution
_GRID = 1201  # Simpson points per look (odd); boundaries converge to ~1e-5 well below this.


def alpha_spent(t: float | np.ndarray, alpha: float, spending: SpendingFunction) -> np.ndarray:
    """Cumulative one-sided alpha spent by information fraction ``t``.

    O'Brien–Fleming-type: α(t) = 2 − 2Φ(z_{1−α/2} / √t).
    Pocock-type: α(t) = α · log(1 + (e − 1) t).

    Args:
        t: Information fraction(s) in (0, 1].
        alpha: One-sided level spent by t = 1.
        spending: ``obrien_fleming`` or ``pocock``.

    Returns:
        α(t), same shape as ``t``.

    Raises:
        InvalidInput: Unknown spending function.

    References:
        Lan, K. K. G. & DeMets, D. L. (1983). "Discrete sequential boundaries for
        clinical trials". Biometrika 70: 659–663.

    Examples:
        >>> float(alpha_spent(1.0, 0.025, "obrien_fleming").round(6))
        0.025
        >>> float(alpha_spent(0.5, 0.025, "pocock").round(5))
        0.01551
    """
    tt = np.asarray(t, dtype=float)
    if spending == "obrien_fleming":
        # 2·Φ(−z/√t) rather than 2 − 2Φ(z/√t): the latter underflows to 0 for early looks.
        # scipy.special ufuncs are untyped (Any); the result has the shape of ``tt``.
        spent: np.ndarray = 2.0 * special.ndtr(-special.ndtri(1.0 - alpha / 2.0) / np.sqrt(tt))
        return spent
    if spending == "pocock":
        return alpha * np.log1p((math.e - 1.0) * tt)
    raise InvalidInput(
        f"expected 'obrien_fleming' or 'pocock', got {spending!r}", path="spending"
    )


@dataclass(frozen=True, slots=True)
class GroupSequentialResult:
    """Decision at one interim look.

    Attributes:
        look: 1-based look index.
        statistic: Observed z.
        boundary: Critical |z| (two-sided) or z (one-sided) at this look.
        reject: Whether H0 is rejected (stop for efficacy).
        final: Whether this is the last planned look.
    """

    look: int
    statistic: float
    boundary: float
    reject: bool
    final: bool


@dataclass(frozen=True, slots=True)
class GroupSequentialDesign:
    """Planned looks and their efficacy boundaries.

    Attributes:
        information_fractions: t_k in (0, 1], increasing, last = 1.
        boundaries: Critical z per look (symmetric ±z for two-sided).
        cumulative_alpha: Total (both sides for two-sided) alpha spent by each look.
        alpha: Overall significance level.
        alternative: Sidedness.
        spending: Spending function used.
    """

    information_fractions: tuple[float, ...]
    boundaries: tuple[float, ...]
    cumulative_alpha: tuple[float, ...]
    alpha: float
    alternative: Alternative
    spending: SpendingFunction

    def test(self, z: float, *, look: int) -> GroupSequentialResult:
        """Compare an observed z-statistic with the boundary of a look.

        Args:
            z: Observed z (treatment − control over its SE).
            look: 1-based look index.

        Returns:
            The decision.

        Raises:
            InvalidInput: ``look`` outside 1..K.

        Examples:
            >>> d = group_sequential_design([0.5, 1.0])
            >>> d.test(3.0, look=1).reject
            True
        """
        k = len(self.boundaries)
        if not 1 <= look <= k:
            raise InvalidInput(f"expected 1 <= look <= {k}, got {look!r}", path="look")
        c = self.boundaries[look - 1]
        if self.alternative == "two-sided":
            reject = abs(z) >= c
        elif self.alternative == "greater":
            reject = z >= c
        else:
            reject = z <= -c
        return GroupSequentialResult(look, z, c, bool(reject), look == k)


def _simpson(m: int) -> np.ndarray:
    w = np.ones(m)
    w[1:-1:2] = 4.0
    w[2:-1:2] = 2.0
    return w / 3.0


def _check_fractions(information_fractions: Sequence[float]) -> np.ndarray:
    t = np.asarray(information_fractions, dtype=float)
    if t.ndim != 1 or t.size == 0:
        raise InvalidInput("expected a non-empty 1-D sequence", path="information_fractions")
    if not (np.all(np.isfinite(t)) and t[0] > 0 and np.all(np.diff(t) > 0) and t[-1] <= 1):
        raise InvalidInput(
            f"expected increasing fractions in (0, 1], got {t.tolist()}",
            path="information_fractions",
        )
    return t


def group_sequential_design(
    information_fractions: Sequence[float],
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    spending: SpendingFunction = "obrien_fleming",
) -> GroupSequentialDesign:
    """Efficacy boundaries for pre-planned looks by Lan–DeMets alpha spending.

    Args:
        information_fractions: Share of the planned information (≈ sample size) at
            each look, increasing, in (0, 1]. A last fraction below 1 spends only
            α(t_K) (the design is truncated early).
        alpha: Overall level (two-sided total for ``two-sided``).
        alternative: ``two-sided`` (symmetric), ``greater`` or ``less``.
        spending: ``obrien_fleming`` or ``pocock``.

    Returns:
        The design with one boundary per look.

    Raises:
        InvalidInput: Fractions not increasing in (0, 1], or ``alpha`` outside (0, 1).

    References:
        Lan & DeMets (1983), Biometrika 70: 659–663; Jennison & Turnbull (2000),
        Group Sequential Methods with Applications to Clinical Trials, ch. 7 and 19.

    Examples:
        >>> d = group_sequential_design([0.2, 0.4, 0.6, 0.8, 1.0])
        >>> [round(b, 3) for b in d.boundaries]
        [4.877, 3.357, 2.68, 2.29, 2.031]
    """
    t = _check_fractions(information_fractions)
    if not 0.0 < alpha < 1.0:
        raise InvalidInput(f"expected 0 < alpha < 1, got {alpha!r}", path="alpha")
    two_sided = alternative == "two-sided"
    side_alpha = alpha / 2.0 if two_sided else alpha
    spent = alpha_spent(t, side_alpha, spending)
    increments = np.diff(np.concatenate([[0.0], spent]))
    sides = 2.0 if two_sided else 1.0
    lower_floor = -12.0  # one-sided: the region below −12 has negligible mass

    boundaries: list[float] = []
    grid = weights = density = np.empty(0)
    for k in range(t.size):
        target = increments[k]
        if k == 0:
            # P(Z > c) = target per side; capped where the spend underflows to 0.
            c = min(float(-special.ndtri(target)), _Z_MAX) if target > 0 else _Z_MAX
        else:
            r_prev, r_now = math.sqrt(t[k - 1]), math.sqrt(t[k])
            sd = math.sqrt(t[k] - t[k - 1])
            mass = weights * density

            def cross(c: float, g: np.ndarray = grid, m: np.ndarray = mass,
                      a: float = r_prev, b: float = r_now, s: float = sd) -> float:
                upper = special.ndtr((g * a - c * b) / s)
                return float(m @ upper) * sides

            def gap(c: float, tgt: float = target * sides) -> float:
                return cross(c) - tgt

            if gap(0.0) <= 0:
                c = 0.0
            elif gap(_Z_MAX) >= 0:
                c = _Z_MAX
            else:
                c = float(optimize.brentq(gap, 0.0, _Z_MAX, xtol=1e-12))
        boundaries.append(c)
        lo = -c if two_sided else min(lower_floor, -c)
        new_grid = np.linspace(lo, c, _GRID)
        new_weights = _simpson(_GRID) * (new_grid[1] - new_grid[0])
        if k == 0:
            density = np.exp(-0.5 * new_grid**2) / math.sqrt(2.0 * math.pi)
        else:
            r_prev, r_now = math.sqrt(t[k - 1]), math.sqrt(t[k])
            sd = math.sqrt(t[k] - t[k - 1])
            arg = (new_grid[:, None] * r_now - grid[None, :] * r_prev) / sd
            kernel = np.exp(-0.5 * arg * arg) * (r_now / (sd * math.sqrt(2.0 * math.pi)))
            density = kernel @ (weights * density)
        grid, weights = new_grid, new_weights
    return GroupSequentialDesign(
        information_fractions=tuple(float(x) for x in t),
        boundaries=tuple(boundaries),
        cumulative_alpha=tuple(float(x) * sides for x in spent),
        alpha=alpha,
        alternative=alternative,
        spending=spending,
    )
