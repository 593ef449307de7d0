"""Numbers for people in readouts: percentages, p-values, chances and one-line results.

What belongs here: the formatting of single values and of one results row
(``purchase +3.1 % [+1.2 %, +5.0 %], p = 0.002``), shared by the tables, the quality
checks and the recommendation's wording. Formatting only; no rule is applied here.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["describe_row", "format_chance", "format_p_value", "format_percent"]


def format_percent(value: float, *, signed: bool = True, digits: int = 1) -> str:
    """A fraction as a percentage for people (``0.031`` → ``+3.1 %``).

    Examples:
        >>> format_percent(0.031), format_percent(-0.0049), format_percent(float("nan"))
        ('+3.1 %', '-0.5 %', '—')
        >>> format_percent(float("inf"))
        '+∞'
    """
    if math.isnan(value):
        return "—"
    if math.isinf(value):
        return "+∞" if value > 0 else "−∞"
    text = f"{value * 100:+.{digits}f} %" if signed else f"{value * 100:.{digits}f} %"
    return text


def format_p_value(p: float) -> str:
    """A p-value as reviewers expect it (``p = 0.002``, ``p < 0.001``).

    Examples:
        >>> format_p_value(0.0021), format_p_value(0.00001), format_p_value(0.43)
        ('p = 0.002', 'p < 0.001', 'p = 0.43')
    """
    if math.isnan(p):
        return "p = —"
    if p < 0.001:
        return "p < 0.001"
    if p < 0.01:
        return f"p = {p:.3f}"
    return f"p = {p:.2f}"


def format_chance(chance: float) -> str:
    """A probability for people, never claiming certainty (``>99.9 %``).

    Examples:
        >>> format_chance(0.9731), format_chance(0.99999), format_chance(0.00001)
        ('97.3 %', '>99.9 %', '<0.1 %')
    """
    if math.isnan(chance):
        return "—"
    if chance > 0.999:
        return ">99.9 %"
    if chance < 0.001:
        return "<0.1 %"
    return f"{chance * 100:.1f} %"


def describe_row(row: dict[str, Any]) -> str:
    """One result row in words: ``purchase +3.1 % [+1.2 %, +5.0 %], p = 0.002``.

    Bayesian rows show the chance to win instead of a p-value.

    Args:
        row: A row of the results frame (as a dict).

    Returns:
        The description.
    """
    name = row["metric_name"]
    if row["status"] not in ("ok", "zero_control_mean") or math.isnan(row["effect_rel"]):
        return f"{name}: not enough data ({row['status']})"
    interval = f"[{format_percent(row['ci_low_rel'])}, {format_percent(row['ci_high_rel'])}]"
    if not math.isnan(row["chance_to_win"]):
        evidence = f"chance to win {format_chance(row['chance_to_win'])}"
    else:
        p = row["p_value_adjusted"] if not math.isnan(row["p_value_adjusted"]) else row["p_value"]
        evidence = format_p_value(p)
    return f"{name} {format_percent(row['effect_rel'])} {interval}, {evidence}"
