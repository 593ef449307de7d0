"""Ship / don't-ship decisions from a rule written down before the data arrives.

What belongs here: ``DecisionRule`` (primary metric, its desired direction,
guardrails with harm thresholds), ``Guardrail``, and ``decide``, which turns an
``AnalysisTable`` (plus an optional SRM check) into a ``Decision`` per treatment
with the reasons spelled out. No statistics are computed here.

The rule, applied per treatment, in this order:

1. SRM alert → ``dont_ship`` (the data cannot be trusted).
2. A guardrail significantly harmed beyond its threshold (its CI on the relative
   lift lies entirely beyond ``-max_harm_rel`` in the harmful direction) → ``dont_ship``.
3. Primary metric degenerate (status not ok) → ``keep_running``.
4. Primary significant in the desired direction → ``ship``.
5. Primary significant in the wrong direction → ``dont_ship``.
6. Otherwise → ``keep_running``, or ``dont_ship`` once the planned horizon is reached.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from abwb.errors import InvalidInput
from abwb.stats.analysis import AnalysisTable
from abwb.stats.results import ComparisonResult
from abwb.stats.srm import SrmResult

__all__ = ["Decision", "DecisionRule", "Direction", "Guardrail", "Verdict", "decide"]

Direction = Literal["increase", "decrease"]
"""Which direction of change is good for a metric."""

Verdict = Literal["ship", "dont_ship", "keep_running"]


@dataclass(frozen=True, slots=True)
class Guardrail:
    """A metric that must not get significantly worse beyond a tolerated margin.

    Args:
        metric: Metric name.
        direction: Direction that is good for the metric.
        max_harm_rel: Tolerated relative harm, ≥ 0 (0.01 = a 1 % degradation is acceptable).

    Raises:
        InvalidInput: Negative or non-finite ``max_harm_rel``.
    """

    metric: str
    direction: Direction = "increase"
    max_harm_rel: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_harm_rel) and self.max_harm_rel >= 0):
            raise InvalidInput(f"expected >= 0, got {self.max_harm_rel!r}",
                               path="Guardrail.max_harm_rel")
        if self.direction not in ("increase", "decrease"):
            raise InvalidInput(f"expected 'increase' or 'decrease', got {self.direction!r}",
                               path="Guardrail.direction")


@dataclass(frozen=True, slots=True)
class DecisionRule:
    """The decision rule, stated before looking at results.

    Args:
        primary_metric: Metric that decides success.
        primary_direction: Direction that counts as success.
        guardrails: Metrics that must not be harmed beyond their thresholds.

    Raises:
        InvalidInput: Bad direction, or a guardrail on the primary metric.
    """

    primary_metric: str
    primary_direction: Direction = "increase"
    guardrails: tuple[Guardrail, ...] = ()

    def __post_init__(self) -> None:
        if self.primary_direction not in ("increase", "decrease"):
            raise InvalidInput(
                f"expected 'increase' or 'decrease', got {self.primary_direction!r}",
                path="DecisionRule.primary_direction",
            )
        for i, g in enumerate(self.guardrails):
            if g.metric == self.primary_metric:
                raise InvalidInput("a guardrail cannot be the primary metric",
                                   path=f"DecisionRule.guardrails[{i}].metric")


@dataclass(frozen=True, slots=True)
class Decision:
    """Verdict for one treatment, with the reasons that produced it.

    Attributes:
        treatment: Treatment variant name.
        verdict: ``ship``, ``dont_ship`` or ``keep_running``.
        reasons: Human-readable reasons, most important first.
    """

    treatment: str
    verdict: Verdict
    reasons: tuple[str, ...]


def _harmed(r: ComparisonResult, g: Guardrail) -> bool:
    if r.status != "ok":
        return False
    if g.direction == "increase":
        return r.significant and r.ci_high_rel < -g.max_harm_rel
    return r.significant and r.ci_low_rel > g.max_harm_rel


def _fmt(r: ComparisonResult) -> str:
    return (f"{r.metric}: lift {r.effect_rel:+.2%} "
            f"[{r.ci_low_rel:+.2%}, {r.ci_high_rel:+.2%}], p_adj={r.p_value_adjusted:.3g}")


def _decide_one(
    table: AnalysisTable, rule: DecisionRule, treatment: str, at_horizon: bool
) -> Decision:
    harmed = [
        _fmt(r) + f" harms guardrail beyond {g.max_harm_rel:.2%}"
        for g in rule.guardrails
        if _harmed(r := table.get(g.metric, treatment), g)
    ]
    if harmed:
        return Decision(treatment, "dont_ship", tuple(harmed))
    p = table.get(rule.primary_metric, treatment)
    if p.status != "ok":
        return Decision(treatment, "keep_running",
                        (f"{p.metric}: no usable estimate (status {p.status})",))
    good = p.effect_abs > 0 if rule.primary_direction == "increase" else p.effect_abs < 0
    if p.significant and good:
        return Decision(treatment, "ship", (_fmt(p) + " significant in the desired direction",
                                            "no guardrail harmed"))
    if p.significant:
        return Decision(treatment, "dont_ship", (_fmt(p) + " significant in the wrong direction",))
    if at_horizon:
        return Decision(treatment, "dont_ship",
                        (_fmt(p) + " not significant at the planned sample size",))
    return Decision(treatment, "keep_running", (_fmt(p) + " not significant yet",))


def decide(
    table: AnalysisTable,
    rule: DecisionRule,
    *,
    srm: SrmResult | None = None,
    at_horizon: bool = False,
) -> tuple[Decision, ...]:
    """Apply a decision rule to every treatment in an analysis.

    Args:
        table: Output of ``analyze`` (with the correction already applied).
        rule: The pre-registered rule.
        srm: Optional SRM check; an alert stops every treatment from shipping.
        at_horizon: True once the planned sample size is reached, so "not
            significant" becomes ``dont_ship`` instead of ``keep_running``.

    Returns:
        One decision per treatment, in table order.

    Raises:
        InvalidInput: The rule names a metric that is not in the table.

    Examples:
        >>> from abwb.stats.analysis import analyze
        >>> from abwb.stats.summary import MeanStats
        >>> s = {"conversion": {"control": MeanStats.from_counts(100, 1000),
        ...                     "b": MeanStats.from_counts(140, 1000)}}
        >>> t = analyze(s, control="control", kinds={"conversion": "proportion"})
        >>> decide(t, DecisionRule("conversion"))[0].verdict
        'ship'
    """
    metrics = {r.metric for r in table}
    for name in (rule.primary_metric, *(g.metric for g in rule.guardrails)):
        if name not in metrics:
            raise InvalidInput(f"metric {name!r} not in the analysis {sorted(metrics)}",
                               path="rule")
    treatments = list(dict.fromkeys(r.treatment for r in table))
    if srm is not None and srm.alert:
        reason = f"sample ratio mismatch (p={srm.p_value:.2g}); results are not trustworthy"
        return tuple(Decision(t, "dont_ship", (reason,)) for t in treatments)
    return tuple(_decide_one(table, rule, t, at_horizon) for t in treatments)
