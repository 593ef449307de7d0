"""Metric definitions: what to measure per unit, from which events, in which window."""

from __future__ import annotations

import math
from typing import Annotated, Literal

import msgspec

from abwb.config.validation import Bound, ProblemList, check_key, raise_if

__all__ = ["SOURCES_BY_KIND", "Capping", "MetricDefinition", "MetricKind"]

MetricKind = Literal["binomial", "count", "sum", "mean", "ratio"]
#: The source fields each kind needs (non-empty): events, and the value summed.
SOURCES_BY_KIND: dict[MetricKind, tuple[str, ...]] = {
    "binomial": ("event",),
    "count": ("event",),
    "sum": ("event", "value_column"),
    "mean": ("event", "value_column"),
    "ratio": ("numerator_event", "denominator_event"),
}
#: Seconds after first exposure (a window never starts before it).
OFFSET_S = Bound(ge=0)
#: A length of time or a cap: strictly positive.
POSITIVE = Bound(gt=0)
#: A percentile cap, as a fraction strictly between 0 and 1.
PERCENTILE = Bound(gt=0, lt=1)
#: The largest relative harm a guardrail tolerates (1 = 100 %).
MAX_HARM_REL = Bound(ge=0, lt=10)


class Capping(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Winsorisation of per-unit values: an absolute cap or an upper percentile (0-1).

    Args:
        absolute: Cap each unit's value at this number.
        percentile: Cap each unit's value at this percentile of the pooled values (0-100,
            exclusive).
    """

    absolute: Annotated[float, POSITIVE] | None = None
    percentile: Annotated[float, PERCENTILE] | None = None


class MetricDefinition(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A metric computed per unit from events inside a window after first exposure.

    Args:
        key: Unique slug.
        kind: ``binomial`` (did the unit do ``event``), ``count`` (how many),
            ``sum`` (Σ ``value_column``), ``mean`` (mean of ``value_column`` per unit),
            ``ratio`` (Σ numerator / Σ denominator across units, delta method).
        event: Source event name (all kinds but ratio).
        value_column: Column summed for ``sum``/``mean`` (default ``value``).
        numerator_event, denominator_event: Sources for ``ratio`` (their values summed,
            or counted when ``*_value_column`` is None).
        window_start_s, window_end_s: Window ``[start, end)`` relative to first exposure.
        capping: Optional winsorisation of the per-unit value.
        direction: Which way is good.
        guardrail_max_harm_rel: As a guardrail, the largest tolerated relative harm.
        cuped_window_s: Length of the pre-exposure period used as the CUPED covariate
            (``None`` disables CUPED).
        numerator_event: Ratio metrics: event summed in the numerator.
        numerator_value_column: Ratio metrics: value summed in the numerator (default: count).
        denominator_event: Ratio metrics: event summed in the denominator.
        denominator_value_column: Ratio metrics: value summed in the denominator (default: count).
        window_start_s: Count events from this many seconds after first exposure.
        window_end_s: Count events up to this many seconds after first exposure (`null`: no end).
        name: Human-readable name.
        description: What the metric measures.
        version: Optimistic-concurrency version, set by the store (ignored on create).
    """

    key: str
    kind: MetricKind
    event: str | None = None
    value_column: str | None = None
    numerator_event: str | None = None
    numerator_value_column: str | None = None
    denominator_event: str | None = None
    denominator_value_column: str | None = None
    window_start_s: Annotated[float, OFFSET_S] = 0.0
    #: Only ``> window_start_s`` is checked; ``> 0`` follows from it and is what the schema says.
    window_end_s: Annotated[float, POSITIVE] | None = None
    capping: Capping | None = None
    direction: Literal["increase", "decrease"] = "increase"
    guardrail_max_harm_rel: Annotated[float, MAX_HARM_REL] | None = None
    cuped_window_s: Annotated[float, POSITIVE] | None = None
    name: str = ""
    description: str = ""
    version: int = 0

    def __post_init__(self) -> None:
        raise_if(self.problems())

    def problems(self) -> ProblemList:
        """Self-contained problems."""
        problems = ProblemList()
        check_key(problems, "key", self.key)
        for source in SOURCES_BY_KIND[self.kind]:
            if not getattr(self, source):
                problems.add(source, f"required for kind {self.kind!r}")
        if not OFFSET_S.contains(self.window_start_s):
            problems.add("window_start_s", f"must be finite and >= 0, got {self.window_start_s}")
        end = self.window_end_s
        if end is not None and (not math.isfinite(end) or end <= self.window_start_s):
            problems.add("window_end_s", f"must be > window_start_s, got {end}")
        self._check_capping(problems)
        harm = self.guardrail_max_harm_rel
        if harm is not None and not MAX_HARM_REL.contains(harm):
            problems.add("guardrail_max_harm_rel", f"must be in [0, 10), got {harm}")
        cuped = self.cuped_window_s
        if cuped is not None and not POSITIVE.contains(cuped):
            problems.add("cuped_window_s", f"must be > 0, got {cuped}")
        return problems

    def _check_capping(self, problems: ProblemList) -> None:
        cap = self.capping
        if cap is None:
            return
        if cap.percentile is not None and not PERCENTILE.contains(cap.percentile):
            problems.add("capping.percentile", f"must be in (0, 1), got {cap.percentile}")
        if cap.absolute is not None and not POSITIVE.contains(cap.absolute):
            problems.add("capping.absolute", f"must be > 0, got {cap.absolute}")
