"""Metric plans: a ``MetricDefinition`` compiled into what both pipeline engines execute.

What belongs here: the one place that turns a metric definition into windows in
integer microseconds, the event names it reads, its value columns and capping. The
DuckDB and polars engines both consume a :class:`MetricPlan`, so the two can never
disagree on what a window or a cap means (their equality is tested on one fixture).

Conventions (documented in ``docs/metrics.md``):

* ``dt`` is ``occurred_at - first_exposed_at`` in microseconds; an event is in the
  analysis window when ``start_us <= dt < end_us`` (inclusive start, exclusive end;
  no end means "up to ``as_of``"), and in the CUPED pre-period when
  ``-cuped_us <= dt < 0``.
* Per-unit values: ``binomial`` 1/0, ``count`` events, ``sum`` Σ value (nulls
  ignored, 0 without events), ``mean`` Σ value / #valued events (null, so the unit
  is left out, without valued events), ``ratio`` Σ numerator and Σ denominator
  (values, or event counts when no value column is given).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from abwb.config.metric import MetricDefinition, MetricKind
from abwb.errors import InvalidInput, Problem

__all__ = ["MetricPlan", "ValuePlan", "plan_metrics"]

_MICROS = 1_000_000


def _micros(seconds: float) -> int:
    # Windows are compared in integer microseconds in both engines so that the
    # edge (inclusive start, exclusive end) is decided identically by each.
    return round(seconds * _MICROS)


@dataclass(frozen=True, slots=True)
class ValuePlan:
    """One per-unit aggregate: events named ``event`` inside a window, reduced by ``how``.

    Args:
        event: Event name.
        how: ``any`` (1/0), ``count``, ``sum`` or ``mean`` of ``value_column``.
        value_column: Numeric events column (``sum``/``mean`` only).
        start_us: Inclusive window start relative to first exposure.
        end_us: Exclusive window end, ``None`` for unbounded.
    """

    event: str
    how: str
    value_column: str | None
    start_us: int
    end_us: int | None


@dataclass(frozen=True, slots=True)
class MetricPlan:
    """A metric compiled for the pipeline engines.

    Args:
        key: Metric key.
        kind: Metric kind.
        index: Position in the request; internal columns are named ``m{index}_...``.
        value: Per-unit value (``MeanStats`` metrics) or numerator (ratio).
        denominator: Ratio denominator, else ``None``.
        covariate: CUPED pre-period value, else ``None``.
        cap_absolute: Absolute upper cap of the per-unit value (numerator for ratios).
        cap_percentile: Upper percentile cap (0-1) over the pooled experiment units.
        cuped_ignored: ``cuped_window_s`` was set on a ratio metric, which has no
            covariate statistics; reported as a note.
    """

    key: str
    kind: MetricKind
    index: int
    value: ValuePlan
    denominator: ValuePlan | None
    covariate: ValuePlan | None
    cap_absolute: float | None
    cap_percentile: float | None
    cuped_ignored: bool = False

    @property
    def is_ratio(self) -> bool:
        """Whether the metric produces ``RatioStats``."""
        return self.kind == "ratio"

    def parts(self) -> list[tuple[str, ValuePlan]]:
        """Internal column suffix (``y``, ``x``, ``den``) and plan of each aggregate."""
        out = [("y", self.value)]
        if self.covariate is not None:
            out.append(("x", self.covariate))
        if self.denominator is not None:
            out.append(("den", self.denominator))
        return out

    def column(self, part: str) -> str:
        """Internal column name of one aggregate, e.g. ``m0_y``."""
        return f"m{self.index}_{part}"


def _value_plan(
    event: str, kind: MetricKind, value_column: str | None, start_us: int, end_us: int | None
) -> ValuePlan:
    how = {"binomial": "any", "count": "count", "sum": "sum", "mean": "mean"}.get(kind)
    if kind == "ratio":
        how = "sum" if value_column else "count"
    col = (value_column or "value") if how in ("sum", "mean") else None
    return ValuePlan(event=event, how=how or "count", value_column=col,
                     start_us=start_us, end_us=end_us)


def _plan(index: int, m: MetricDefinition) -> MetricPlan:
    start = _micros(m.window_start_s)
    end = None if m.window_end_s is None else _micros(m.window_end_s)
    cap = m.capping
    if m.kind == "ratio":
        assert m.numerator_event is not None and m.denominator_event is not None  # validated
        value = _value_plan(m.numerator_event, "ratio", m.numerator_value_column, start, end)
        den = _value_plan(m.denominator_event, "ratio", m.denominator_value_column, start, end)
    else:
        assert m.event is not None  # validated by MetricDefinition
        value = _value_plan(m.event, m.kind, m.value_column, start, end)
        den = None
    covariate = None
    if m.cuped_window_s is not None and m.kind != "ratio":
        # The covariate is the same metric over [first_exposure - cuped_window_s, first_exposure).
        covariate = ValuePlan(value.event, value.how, value.value_column,
                              -_micros(m.cuped_window_s), 0)
    return MetricPlan(
        key=m.key, kind=m.kind, index=index, value=value, denominator=den, covariate=covariate,
        cap_absolute=cap.absolute if cap else None,
        cap_percentile=cap.percentile if cap else None,
        cuped_ignored=m.kind == "ratio" and m.cuped_window_s is not None,
    )


def plan_metrics(
    metrics: Sequence[MetricDefinition | str],
    *,
    catalog: Sequence[MetricDefinition] = (),
) -> list[MetricPlan]:
    """Compile metric definitions into plans, rejecting duplicates and unknown metrics.

    Args:
        metrics: The metrics to compute: ``MetricDefinition`` s, or keys looked up in
            ``catalog``.
        catalog: Known definitions (e.g. ``bundle.metrics``) for metrics given by key.

    Returns:
        One plan per metric, in order.

    Raises:
        InvalidInput: empty list, an unknown metric key, an item that is neither a key
            nor a ``MetricDefinition``, or a key given twice (paths ``metrics[i]``).

    Examples:
        >>> from abwb.config import MetricDefinition
        >>> p = plan_metrics([MetricDefinition(key="conv", kind="binomial", event="buy",
        ...                                    window_end_s=3600)])[0]
        >>> p.value.how, p.value.start_us, p.value.end_us
        ('any', 0, 3600000000)
    """
    problems: list[Problem] = []
    if not metrics:
        problems.append(Problem("metrics", "expected at least one MetricDefinition, got none"))
    known = {m.key: m for m in catalog}
    seen: set[str] = set()
    resolved: list[MetricDefinition] = []
    for i, m in enumerate(metrics):
        if isinstance(m, str):
            if m not in known:
                problems.append(Problem(
                    f"metrics[{i}]",
                    f"unknown metric {m!r}; known metrics: {sorted(known) or 'none'}"))
                continue
            m = known[m]
        if not isinstance(m, MetricDefinition):
            problems.append(Problem(f"metrics[{i}]",
                                    f"expected a MetricDefinition, got {type(m).__name__}"))
        elif m.key in seen:
            problems.append(Problem(f"metrics[{i}].key", f"metric {m.key!r} given twice"))
        else:
            seen.add(m.key)
            resolved.append(m)
    if problems:
        raise InvalidInput(problems)
    return [_plan(i, m) for i, m in enumerate(resolved)]
