"""Analysis configuration: the explicit, frozen settings every test in ``abwb.stats`` takes.

What belongs here: ``AnalysisConfig`` (significance level, sidedness, multiple-testing
correction) and the closed sets of values it accepts. No process-wide defaults are
mutated anywhere; callers build a config and pass it down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

from abwb.errors import InvalidInput, Problem

__all__ = ["Alternative", "AnalysisConfig", "Correction"]

Alternative = Literal["two-sided", "greater", "less"]
"""Alternative hypothesis for ``treatment - control``: ``greater`` means treatment is higher."""

Correction = Literal["none", "holm", "bh"]
"""Multiple-testing correction: none, Holm (FWER) or Benjamini–Hochberg (FDR)."""


@dataclass(frozen=True, slots=True)
class AnalysisConfig:
    """Settings shared by the frequentist, sequential and Bayesian analyses.

    Args:
        alpha: Significance level, strictly between 0 and 1. CIs have level ``1 - alpha``.
        alternative: ``two-sided``, ``greater`` (treatment > control) or ``less``.
        correction: Multiple-testing correction across variants × metrics:
            ``none``, ``holm`` or ``bh`` (Benjamini–Hochberg).

    Raises:
        InvalidInput: ``alpha`` outside (0, 1), or an unknown alternative or correction.

    Examples:
        >>> AnalysisConfig(alpha=0.01, alternative="greater").alpha
        0.01
        >>> AnalysisConfig(alpha=1.5)
        Traceback (most recent call last):
        ...
        abwb.errors.InvalidInput: AnalysisConfig.alpha: expected 0 < alpha < 1, got 1.5
    """

    alpha: float = 0.05
    alternative: Alternative = "two-sided"
    correction: Correction = "holm"

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        if (
            isinstance(self.alpha, bool)
            or not isinstance(self.alpha, (int, float))
            or not math.isfinite(self.alpha)
            or not 0.0 < self.alpha < 1.0
        ):
            problems.append(
                Problem("AnalysisConfig.alpha", f"expected 0 < alpha < 1, got {self.alpha!r}")
            )
        if self.alternative not in get_args(Alternative):
            problems.append(
                Problem(
                    "AnalysisConfig.alternative",
                    f"expected one of {get_args(Alternative)}, got {self.alternative!r}",
                )
            )
        if self.correction not in get_args(Correction):
            problems.append(
                Problem(
                    "AnalysisConfig.correction",
                    f"expected one of {get_args(Correction)}, got {self.correction!r}",
                )
            )
        if problems:
            raise InvalidInput(problems)
