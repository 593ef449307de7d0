"""The readout's recommendation: which rule fires, and the one-line headline.

What belongs here: the ordered decision rules a readout applies to its results
frame and quality checks, and the wording of the headline. The rules, first match
wins:

1. **Investigate** when a data-quality check failed (sample-ratio mismatch,
   crossovers, assignment audit): the numbers cannot be trusted yet.
2. **Do not ship** a variant that harms a guardrail: significantly worse with its
   whole interval beyond the metric's tolerated harm ``guardrail_max_harm_rel``
   (0 when unset) — the rule of :func:`abwb.stats.decision.decide`.
3. **Ship** the variant with the largest significant improvement on the first
   primary metric (among variants that harm no guardrail and lose on no primary).
4. **Do not ship** when every variant is significantly worse on a primary metric.
5. **Keep running** otherwise: no primary result is conclusive yet.

"Significant" is the engine's: adjusted p < alpha (frequentist, sequential) or
chance to win ≥ 1 − alpha (Bayesian). Numbers are formatted for people:
``purchase +3.1 % [+1.2 %, +5.0 %], p = 0.002``.
"""

from __future__ import annotations

import math
from typing import Any

import polars as pl

from abwb.readout.model import ReadoutDecision, ReadoutQuality

__all__ = [
    "decide",
    "describe_row",
    "format_chance",
    "format_p_value",
    "format_percent",
    "guardrail_harmed",
]


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


def guardrail_harmed(row: dict[str, Any]) -> bool:
    """Whether a guardrail result row counts as harmed (rule 2)."""
    # Same rule as abwb.stats.decision: significantly worse, and the whole interval
    # lies beyond the tolerated harm (0 when the metric sets none).
    if row["outcome"] != "worse":
        return False
    tolerated = row["guardrail_max_harm_rel"]
    tolerated = 0.0 if tolerated is None or math.isnan(tolerated) else tolerated
    if row["direction"] == "increase":
        return bool(row["ci_high_rel"] < -tolerated)
    return bool(row["ci_low_rel"] > tolerated)


def decide(results: pl.DataFrame, quality: ReadoutQuality) -> ReadoutDecision:
    """Apply the decision rules (module docstring) to a readout's results.

    Args:
        results: The results frame (:data:`abwb.readout.analysis.RESULT_SCHEMA`).
        quality: The data-quality checks.

    Returns:
        The decision with the rule that fired and a headline.
    """
    failed = [c for c in quality.checks if not c.passed]
    if failed:
        first = failed[0]
        return ReadoutDecision(
            action="investigate",
            variant=None,
            rule="rule 1: a data-quality check failed, so the results cannot be trusted",
            headline=f"Investigate before deciding: {first.detail}",
            reasons=tuple(c.detail for c in failed),
        )
    rows = results.to_dicts()
    guard_rows = [r for r in rows if r["role"] == "guardrail"]
    harmed = {r["variant"]: r for r in guard_rows if guardrail_harmed(r)}
    primary = [r for r in rows if r["role"] == "primary"]
    primary_key = primary[0]["metric"] if primary else None
    losers = {r["variant"] for r in primary if r["outcome"] == "worse"}
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    candidates = [
        r for r in primary
        if r["metric"] == primary_key and r["outcome"] == "better"
        and r["variant"] not in harmed and r["variant"] not in losers
    ]
    guard_note = _guardrail_note(guard_rows, harmed)
    if candidates:
        best = max(candidates, key=lambda r: _goodness(r))
        return ReadoutDecision(
            action="ship",
            variant=best["variant"],
            rule=(f"rule 3: {best['variant']} significantly improves the primary metric "
                  f"{primary_key!r} and harms no guardrail"),
            headline=f"Ship {best['variant']}: {describe_row(best)}; {guard_note}",
            reasons=_reasons(rows, best["variant"]),
        )
    if harmed:
        variant, row = next(iter(harmed.items()))
        return ReadoutDecision(
            action="do_not_ship",
            variant=variant,
            rule=f"rule 2: {variant} harms the guardrail {row['metric']!r}",
            headline=f"Do not ship {variant}: guardrail harmed — {describe_row(row)}",
            reasons=_reasons(rows, variant),
        )
    if variants and primary and all(v in losers for v in variants):
        row = next(r for r in primary if r["outcome"] == "worse")
        return ReadoutDecision(
            action="do_not_ship",
            variant=None,
            rule="rule 4: every variant is significantly worse on a primary metric",
            headline=f"Do not ship: {row['variant']} loses — {describe_row(row)}",
            reasons=_reasons(rows, None),
        )
    lead = [r for r in primary if r["metric"] == primary_key]
    best_text = (
        f"; best so far {max(lead, key=_goodness)['variant']}: "
        f"{describe_row(max(lead, key=_goodness))}"
        if lead else ""
    )
    return ReadoutDecision(
        action="keep_running",
        variant=None,
        rule="rule 5: no primary result is conclusive yet",
        headline=f"Keep running: no conclusive primary result{best_text}; {guard_note}",
        reasons=_reasons(rows, None),
    )


def _goodness(row: dict[str, Any]) -> float:
    value = float(row["effect_rel"])
    if math.isnan(value):
        return -math.inf
    return value if row["direction"] == "increase" else -value


def _guardrail_note(guard_rows: list[dict[str, Any]], harmed: dict[str, Any]) -> str:
    if not guard_rows:
        return "no guardrails defined"
    if not harmed:
        return "no guardrail harmed"
    names = sorted({r["metric_name"] for r in harmed.values()})
    return f"guardrail harmed: {', '.join(names)}"


def _reasons(rows: list[dict[str, Any]], variant: str | None) -> tuple[str, ...]:
    return tuple(
        f"{r['variant']} · {r['role']} · {describe_row(r)} → {r['outcome']}"
        for r in rows
        if variant is None or r["variant"] == variant
    )
