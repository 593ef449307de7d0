"""The readout's recommendation in words: the typed ship decision, presented.

What belongs here: :func:`recommend`, which asks :func:`abwb.stats.ship_rule.decide`
for the decision (the rule lives there and only there) and words it for the report —
the headline, the rule that fired in plain language, and one sentence per result
row as evidence. The readout's primary metric for the rule is its first primary
metric; its guardrails are the metrics in the guardrail role, each with the
definition's direction and tolerated harm.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from abwb.readout.analysis import MetricData
from abwb.readout.formatting import describe_row
from abwb.readout.model import ReadoutDecision, ReadoutQuality
from abwb.stats.analysis import AnalysisTable
from abwb.stats.ship_rule import Guardrail, ShipDecision, ShipRule, decide

__all__ = ["recommend", "ship_rule_for"]


def ship_rule_for(metrics: Sequence[MetricData]) -> ShipRule | None:
    """The ship rule a readout applies: first primary metric, guardrails by role.

    Args:
        metrics: The readout's metrics with their roles.

    Returns:
        The rule, or ``None`` when no metric has the primary role.
    """
    primary = next((m.definition for m in metrics if m.role == "primary"), None)
    if primary is None:
        return None
    guardrails = tuple(Guardrail.of(m.definition) for m in metrics
                       if m.role == "guardrail" and m.definition.key != primary.key)
    return ShipRule(primary.key, primary.direction, guardrails)


def _sentence(decision: ShipDecision, rule: ShipRule | None) -> str:
    primary = rule.primary_metric if rule else "—"
    v = decision.variant
    harmed = next((t.harmed for t in decision.treatments if t.treatment == v), ())
    return {
        "untrusted_data": "a data-quality check failed, so the results cannot be trusted",
        "primary_better": (f"{v} significantly improves the primary metric {primary!r} "
                           "and harms no guardrail"),
        "guardrail_harmed": f"{v} harms the guardrail {', '.join(map(repr, harmed))}",
        "primary_worse": "every variant is significantly worse on the primary metric",
        "horizon_reached": "the planned sample size is reached without a conclusive result",
        "inconclusive": "no primary result is conclusive yet",
        "no_estimate": f"the primary metric {primary!r} has no usable estimate yet",
    }[decision.rule]


def _headline(decision: ShipDecision, rows: list[dict[str, Any]], primary: str | None,
              guard_note: str) -> str:
    by_key = {(r["metric"], r["variant"]): r for r in rows}
    v = decision.variant
    if decision.verdict == "investigate":
        return f"Investigate before deciding: {decision.reasons[0]}"
    if decision.verdict == "ship" and v is not None:
        return f"Ship {v}: {describe_row(by_key[(primary, v)])}; {guard_note}"
    if decision.rule == "guardrail_harmed" and v is not None:
        treatment = next(t for t in decision.treatments if t.treatment == v)
        return (f"Do not ship {v}: guardrail harmed — "
                f"{describe_row(by_key[(treatment.harmed[0], v)])}")
    if decision.verdict == "do_not_ship":
        worst = next((by_key[(primary, t.treatment)] for t in decision.treatments
                      if (primary, t.treatment) in by_key), None)
        detail = describe_row(worst) if worst is not None else "no usable estimate"
        return f"Do not ship: {_sentence(decision, None)} — {detail}"
    lead = [r for r in rows if r["metric"] == primary]
    best = f"; best so far {_best(lead)['variant']}: {describe_row(_best(lead))}" if lead else ""
    return f"Keep running: no conclusive primary result{best}; {guard_note}"


def _best(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def goodness(r: dict[str, Any]) -> float:
        value = float(r["effect_rel"])
        if value != value:  # NaN sorts last
            return float("-inf")
        return value if r["direction"] == "increase" else -value
    return max(rows, key=goodness)


def _guardrail_note(rows: list[dict[str, Any]]) -> str:
    guard_rows = [r for r in rows if r["role"] == "guardrail"]
    if not guard_rows:
        return "no guardrails defined"
    harmed = sorted({r["metric_name"] for r in guard_rows if r["guardrail_status"] == "harmed"})
    if harmed:
        return f"guardrail harmed: {', '.join(harmed)}"
    # Say so when a guardrail got worse within its tolerance: "no guardrail harmed" alone
    # would read as "all guardrails fine" next to a guardrail row marked worse.
    tolerated = sorted({r["metric_name"] for r in guard_rows
                        if r["guardrail_status"] == "not_harmed" and r["outcome"] == "worse"})
    if tolerated:
        return f"no guardrail harmed ({', '.join(tolerated)} worse within tolerance)"
    unknown = sorted({r["metric_name"] for r in guard_rows
                      if r["guardrail_status"] == "not_established"})
    if unknown:
        return f"no guardrail shown harmed (not established: {', '.join(unknown)})"
    return "no guardrail harmed"


def recommend(
    table: AnalysisTable,
    results: pl.DataFrame,
    metrics: Sequence[MetricData],
    quality: ReadoutQuality,
) -> ReadoutDecision:
    """Decide with the ship rule and word the decision for the report.

    Args:
        table: The typed analysis (what the rule reads).
        results: The results frame of the same analysis (what the words quote).
        metrics: The readout's metrics with their roles.
        quality: Data-quality checks; a failed one makes the verdict ``investigate``.

    Returns:
        The verdict, the variant it concerns, the rule in words, a headline and reasons.
    """
    rule = ship_rule_for(metrics)
    untrusted = tuple(c.detail for c in quality.checks if not c.passed)
    decision = decide(table, rule or ShipRule("", "increase"), untrusted=untrusted)
    rows = results.to_dicts()
    primary = rule.primary_metric if rule else None
    if decision.verdict == "investigate":
        reasons = decision.reasons
    else:
        reasons = tuple(f"{r['variant']} · {r['role']} · {describe_row(r)} → {r['outcome']}"
                        for r in rows if decision.variant is None
                        or r["variant"] == decision.variant)
    return ReadoutDecision(
        action=decision.verdict,
        variant=decision.variant,
        rule=f"{decision.rule}: {_sentence(decision, rule)}",
        headline=_headline(decision, rows, primary, _guardrail_note(rows)),
        reasons=reasons,
    )
