"""The ship decision: one typed rule from analysed results to ship / do not ship.

What belongs here: the verdict vocabulary (``Verdict``), how one result reads for a
metric with a desired direction (:func:`outcome`), whether a guardrail is harmed
(:func:`guardrail_status`), the pre-registered :class:`ShipRule` and :func:`decide`,
which turns labelled results into a :class:`ShipDecision` with the rule that fired.
No statistics are computed here and no words for people are chosen beyond short
reasons; the readout and the demo present the decision, the monitor uses
:func:`guardrail_status` for its guardrail alerts.

"Significant" is the engine's: adjusted p < alpha (frequentist, sequential) or chance
to win ≥ 1 − alpha (Bayesian). A guardrail is **harmed** when its result reads
``worse`` *and* the whole relative interval lies beyond the tolerated harm
``max_harm_rel`` in the harmful direction; an interval that is undefined (NaN, e.g.
a zero control mean) means harm is **not established**, never harmed.

The rule, first match wins:

1. ``investigate`` — the data cannot be trusted (SRM, a failed quality check).
2. ``ship`` — the treatment with the best significant improvement on the primary
   metric among treatments that harm no guardrail.
3. ``do_not_ship`` — a treatment harms a guardrail (``guardrail_harmed``), or every
   treatment is significantly worse on the primary (``primary_worse``), or the planned
   horizon is reached with nothing conclusive (``horizon_reached``).
4. ``keep_running`` — nothing is conclusive yet (``inconclusive``), or the primary
   metric has no usable estimate (``no_estimate``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from abwb.config.metric import MetricDefinition
from abwb.errors import InvalidInput
from abwb.stats.bayesian import BayesResult
from abwb.stats.results import ComparisonResult

__all__ = [
    "VERDICTS",
    "Direction",
    "Guardrail",
    "GuardrailStatus",
    "Outcome",
    "RuleName",
    "ShipDecision",
    "ShipRule",
    "TreatmentVerdict",
    "Verdict",
    "decide",
    "guardrail_status",
    "outcome",
]

Direction = Literal["increase", "decrease"]
"""Which direction of change is good for a metric."""

Verdict = Literal["ship", "do_not_ship", "keep_running", "investigate"]
"""The one verdict vocabulary (``results.json``, the readout, the demo)."""

VERDICTS: tuple[Verdict, ...] = get_args(Verdict)

Outcome = Literal["better", "worse", "inconclusive", "no_data", "not_testable"]
"""How one result reads for a metric with a desired direction."""

GuardrailStatus = Literal["harmed", "not_harmed", "not_established"]
"""Whether a guardrail is harmed; ``not_established`` when the interval is undefined."""

RuleName = Literal["untrusted_data", "primary_better", "guardrail_harmed", "primary_worse",
                   "horizon_reached", "inconclusive", "no_estimate"]
"""Which clause of the rule produced a verdict."""

Result = ComparisonResult | BayesResult
_USABLE = ("ok", "zero_control_mean")
_NO_DATA = ("empty_arm", "insufficient_n")


def _check_direction(value: str, path: str) -> None:
    if value not in get_args(Direction):
        raise InvalidInput(f"expected 'increase' or 'decrease', got {value!r}", path=path)


@dataclass(frozen=True, slots=True)
class Guardrail:
    """A metric that must not get significantly worse beyond a tolerated margin.

    Args:
        metric: Metric key.
        direction: Direction that is good for the metric.
        max_harm_rel: Tolerated relative harm, ≥ 0 (0.01 = a 1 % degradation is acceptable).

    Raises:
        InvalidInput: Negative or non-finite ``max_harm_rel``, or a bad direction.
    """

    metric: str
    direction: Direction = "increase"
    max_harm_rel: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_harm_rel) and self.max_harm_rel >= 0):
            raise InvalidInput(f"expected >= 0, got {self.max_harm_rel!r}",
                               path="Guardrail.max_harm_rel")
        _check_direction(self.direction, "Guardrail.direction")

    @classmethod
    def of(cls, definition: MetricDefinition) -> Guardrail:
        """The guardrail a metric definition describes (its direction and tolerance).

        Args:
            definition: The metric definition.

        Returns:
            The guardrail (tolerance 0 when the definition sets none).
        """
        return cls(definition.key, definition.direction, definition.guardrail_max_harm_rel or 0.0)


@dataclass(frozen=True, slots=True)
class ShipRule:
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
        _check_direction(self.primary_direction, "ShipRule.primary_direction")
        for i, g in enumerate(self.guardrails):
            if g.metric == self.primary_metric:
                raise InvalidInput("a guardrail cannot be the primary metric",
                                   path=f"ShipRule.guardrails[{i}].metric")


@dataclass(frozen=True, slots=True)
class TreatmentVerdict:
    """The rule applied to one treatment.

    Attributes:
        treatment: Treatment variant key.
        verdict: ``ship``, ``do_not_ship``, ``keep_running`` or ``investigate``.
        rule: The clause that fired.
        primary: The primary metric's result for this treatment (``None`` if missing).
        harmed: Guardrail metric keys this treatment harms.
        reasons: Short reasons, most important first.
    """

    treatment: str
    verdict: Verdict
    rule: RuleName
    primary: Result | None
    harmed: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ShipDecision:
    """The experiment's verdict, the treatment it concerns and the clause that fired.

    Attributes:
        verdict: The experiment-level verdict.
        variant: The treatment to ship (``ship``) or the one that caused the verdict.
        rule: The clause that fired.
        treatments: The per-treatment verdicts, in result order.
        reasons: Short reasons behind the verdict.
    """

    verdict: Verdict
    variant: str | None
    rule: RuleName
    treatments: tuple[TreatmentVerdict, ...]
    reasons: tuple[str, ...] = ()


def outcome(result: Result, direction: Direction) -> Outcome:
    """How one result reads for a metric whose good direction is ``direction``.

    Args:
        result: A frequentist, sequential or Bayesian result (its own ``alpha``).
        direction: Which way is good.

    Returns:
        ``better`` / ``worse`` when significant, ``inconclusive`` otherwise;
        ``no_data`` / ``not_testable`` when the result carries no usable estimate.

    Examples:
        >>> from abwb.stats.frequentist import proportions_ztest
        >>> from abwb.stats.summary import MeanStats
        >>> r = proportions_ztest(MeanStats.from_counts(100, 1000),
        ...                       MeanStats.from_counts(140, 1000))
        >>> outcome(r, "increase"), outcome(r, "decrease")
        ('better', 'worse')
    """
    if result.status not in _USABLE:
        return "no_data" if result.status in _NO_DATA else "not_testable"
    good = 1.0 if direction == "increase" else -1.0
    if isinstance(result, BayesResult):
        ctb = result.chance_to_beat_control
        if math.isnan(ctb):
            return "inconclusive"
        win = ctb if direction == "increase" else 1.0 - ctb
        if win >= 1.0 - result.alpha:
            return "better"
        return "worse" if win <= result.alpha else "inconclusive"
    p = result.p_value_adjusted if not math.isnan(result.p_value_adjusted) else result.p_value
    if math.isnan(p) or p >= result.alpha:
        return "inconclusive"
    return "better" if result.effect_abs * good > 0 else "worse"


def guardrail_status(result: Result, guardrail: Guardrail) -> GuardrailStatus:
    """Whether ``result`` shows harm to ``guardrail`` beyond its tolerated margin.

    Args:
        result: The guardrail metric's result for one treatment.
        guardrail: Direction and tolerance.

    Returns:
        ``harmed`` (significantly worse and the whole relative interval beyond
        ``max_harm_rel``), ``not_harmed``, or ``not_established`` when the result has
        no usable estimate or its relative interval is undefined (NaN).

    Examples:
        >>> from abwb.stats.frequentist import welch_ttest
        >>> from abwb.stats.summary import MeanStats
        >>> c = MeanStats(n=10_000, total=2e6, total_sq=4.1e8)
        >>> t = MeanStats(n=10_000, total=2.3e6, total_sq=5.4e8)
        >>> latency = welch_ttest(c, t)
        >>> guardrail_status(latency, Guardrail("latency", "decrease", 0.05))
        'harmed'
        >>> guardrail_status(latency, Guardrail("latency", "decrease", 0.5))
        'not_harmed'
    """
    if result.status not in _USABLE:
        return "not_established"
    bound = result.ci_high_rel if guardrail.direction == "increase" else result.ci_low_rel
    if math.isnan(bound):
        return "not_established"
    if outcome(result, guardrail.direction) != "worse":
        return "not_harmed"
    m = guardrail.max_harm_rel
    beyond = bound < -m if guardrail.direction == "increase" else bound > m
    return "harmed" if beyond else "not_harmed"


def _fmt(metric: str, r: Result) -> str:
    return (f"{metric}: lift {r.effect_rel:+.2%} "
            f"[{r.ci_low_rel:+.2%}, {r.ci_high_rel:+.2%}]")


def _treatment_verdict(
    treatment: str,
    by_metric: dict[str, Result],
    rule: ShipRule,
    at_horizon: bool,
) -> TreatmentVerdict:
    harmed = tuple(g.metric for g in rule.guardrails
                   if g.metric in by_metric
                   and guardrail_status(by_metric[g.metric], g) == "harmed")
    p = by_metric.get(rule.primary_metric)
    if harmed:
        reasons = tuple(_fmt(m, by_metric[m]) + " harms the guardrail" for m in harmed)
        return TreatmentVerdict(treatment, "do_not_ship", "guardrail_harmed", p, harmed, reasons)
    if p is None or p.status not in _USABLE:
        status = "missing" if p is None else p.status
        return TreatmentVerdict(treatment, "keep_running", "no_estimate", p, (),
                                (f"{rule.primary_metric}: no usable estimate ({status})",))
    read = outcome(p, rule.primary_direction)
    text = _fmt(rule.primary_metric, p)
    if read == "better":
        return TreatmentVerdict(treatment, "ship", "primary_better", p, (),
                                (text + " significant in the desired direction",))
    if read == "worse":
        return TreatmentVerdict(treatment, "do_not_ship", "primary_worse", p, (),
                                (text + " significant in the wrong direction",))
    if at_horizon:
        return TreatmentVerdict(treatment, "do_not_ship", "horizon_reached", p, (),
                                (text + " not significant at the planned sample size",))
    return TreatmentVerdict(treatment, "keep_running", "inconclusive", p, (),
                            (text + " not significant yet",))


def _goodness(v: TreatmentVerdict, direction: Direction) -> float:
    value = v.primary.effect_rel if v.primary is not None else math.nan
    if math.isnan(value):
        return -math.inf
    return value if direction == "increase" else -value


def decide(
    results: Iterable[Result],
    rule: ShipRule,
    *,
    untrusted: Sequence[str] = (),
    at_horizon: bool = False,
) -> ShipDecision:
    """Apply a ship rule to labelled results (module docstring).

    Args:
        results: Results labelled with ``metric`` and ``treatment`` (as ``analyze``
            returns them), any engine.
        rule: The pre-registered rule.
        untrusted: Why the data cannot be trusted (SRM, failed quality checks); any
            entry makes the verdict ``investigate``.
        at_horizon: True once the planned sample size is reached, so "not significant"
            becomes ``do_not_ship`` instead of ``keep_running``.

    Returns:
        The decision, with one verdict per treatment.

    A metric the rule names but the results lack is degenerate data, not an error:
    a missing primary gives ``no_estimate``, a missing guardrail is not established.

    Examples:
        >>> from abwb.stats.analysis import analyze
        >>> from abwb.stats.summary import MeanStats
        >>> s = {"conversion": {"control": MeanStats.from_counts(100, 1000),
        ...                     "b": MeanStats.from_counts(140, 1000)}}
        >>> t = analyze(s, control="control", kinds={"conversion": "binomial"})
        >>> d = decide(t, ShipRule("conversion"))
        >>> d.verdict, d.variant, d.rule
        ('ship', 'b', 'primary_better')
    """
    labelled = list(results)
    treatments = list(dict.fromkeys(r.treatment for r in labelled))
    by_treatment: dict[str, dict[str, Result]] = {t: {} for t in treatments}
    for r in labelled:
        by_treatment[r.treatment][r.metric] = r
    if untrusted:
        verdicts = tuple(
            TreatmentVerdict(t, "investigate", "untrusted_data",
                             by_treatment[t].get(rule.primary_metric), (), tuple(untrusted))
            for t in treatments
        )
        return ShipDecision("investigate", None, "untrusted_data", verdicts, tuple(untrusted))
    verdicts = tuple(_treatment_verdict(t, by_treatment[t], rule, at_horizon)
                     for t in treatments)
    ships = [v for v in verdicts if v.verdict == "ship"]
    if ships:
        best = max(ships, key=lambda v: _goodness(v, rule.primary_direction))
        return ShipDecision("ship", best.treatment, "primary_better", verdicts, best.reasons)
    harmed = [v for v in verdicts if v.rule == "guardrail_harmed"]
    if harmed:
        return ShipDecision("do_not_ship", harmed[0].treatment, "guardrail_harmed", verdicts,
                            harmed[0].reasons)
    if verdicts and all(v.verdict == "do_not_ship" for v in verdicts):
        first = verdicts[0]
        return ShipDecision("do_not_ship", None, first.rule, verdicts,
                            tuple(r for v in verdicts for r in v.reasons))
    no_estimate = all(v.rule == "no_estimate" for v in verdicts) and bool(verdicts)
    return ShipDecision("keep_running", None, "no_estimate" if no_estimate else "inconclusive",
                        verdicts, tuple(r for v in verdicts for r in v.reasons))
