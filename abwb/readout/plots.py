"""Static, deterministic readout plots (matplotlib, Agg backend).

What belongs here: one function per readout figure — forest plot of relative
lifts, lift over time, exposures over time, posteriors of the relative lift —
each taking a :class:`~abwb.readout.model.ReadoutResult` and returning a
``matplotlib.figure.Figure``. Figures are built with the object API (no pyplot
global state), so they are safe in scripts, tests and notebooks alike; Jupyter
displays a returned figure inline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Union

import numpy as np
from scipy import special

from abwb.readout.formatting import format_chance
from abwb.readout.model import ReadoutResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from abwb.analysis.result import AnalysisResult
    from abwb.stats.analysis import AnalysisTable

__all__ = ["ForestSource", "plot_exposures", "plot_forest", "plot_lift_over_time",
           "plot_posteriors", "variant_colours"]

_COLOURS = ("#2563eb", "#d97706", "#7c3aed", "#059669", "#db2777", "#0891b2")
_OUTCOME_COLOURS = {"better": "#059669", "worse": "#dc2626"}
_WITHIN_TOLERANCE = "#d97706"
_GREY = "#6b7280"


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return fig


def _percent_axis(ax: object, axis: str = "x") -> None:
    from matplotlib.ticker import FuncFormatter

    fmt = FuncFormatter(lambda v, _pos: f"{v * 100:+.0f} %" if v else "0 %")
    getattr(ax, f"{axis}axis").set_major_formatter(fmt)


def _empty(fig: Figure, message: str) -> Figure:
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=12, color="#6b7280")
    return fig


def variant_colours(variants: Sequence[str]) -> dict[str, str]:
    """One colour per variant, the same in every plot of a readout.

    Args:
        variants: Every variant in configuration order (control first).

    Returns:
        Variant → colour.

    Examples:
        >>> variant_colours(["control", "one-page"])
        {'control': '#2563eb', 'one-page': '#d97706'}
    """
    return {v: _COLOURS[i % len(_COLOURS)] for i, v in enumerate(variants)}


def _readout_colours(readout: ReadoutResult) -> dict[str, str]:
    return variant_colours([v.key for v in readout.facts.variants])


def _forest_colour(row: dict[str, Any]) -> str:
    # A guardrail's colour follows its guardrail status, not the bare outcome: a guardrail
    # that is worse but within its tolerance is not harmed, and must not look harmed.
    status = row.get("guardrail_status")
    if row.get("role") == "guardrail" and status is not None:
        if status == "harmed":
            return _OUTCOME_COLOURS["worse"]
        if row["outcome"] == "worse":
            return _WITHIN_TOLERANCE
        return _OUTCOME_COLOURS.get(row["outcome"], _GREY)
    return _OUTCOME_COLOURS.get(row["outcome"], _GREY)


ForestSource = Union[ReadoutResult, "AnalysisTable", "AnalysisResult"]


def plot_forest(source: ForestSource) -> Figure:
    """Forest plot: relative lift with its interval for every metric × variant.

    Green marks a significant improvement, red a significant harm (a guardrail: harm
    beyond its tolerance), amber a guardrail worse within tolerance, grey no
    conclusion; the dashed line is no change.

    Args:
        source: A readout, the table of :func:`abwb.stats.analyze` (read as "higher is
            better") or a frame analysis (:func:`abwb.analysis.analyze_frame`).

    Returns:
        The figure.
    """
    from abwb.analysis.result import AnalysisResult
    from abwb.stats.analysis import AnalysisTable

    if isinstance(source, ReadoutResult):
        rows = list(source.results.iter_rows(named=True))
        labels = [f"{r['metric_name']} · {r['variant']}  ({r['role']})" for r in rows]
        alpha, engine, control = source.facts.alpha, source.facts.engine, source.facts.control
    else:
        result = AnalysisResult(source) if isinstance(source, AnalysisTable) else source
        rows = result.rows()
        labels = [f"{r['metric']} · {r['variant']}" for r in rows]
        alpha, engine = result.table.config.alpha, result.table.engine
        control = rows[0]["control"] if rows else "control"
    fig = _figure(9.0, 1.2 + 0.45 * max(len(rows), 1))
    usable = [(r, label) for r, label in zip(rows, labels, strict=True)
              if not math.isnan(r["effect_rel"])]
    if not usable:
        return _empty(fig, "No relative lifts to show yet")
    ax = fig.add_subplot()
    for i, (r, _label) in enumerate(reversed(usable)):
        colour = _forest_colour(r)
        lo, hi = r["ci_low_rel"], r["ci_high_rel"]
        lo = r["effect_rel"] if math.isinf(lo) or math.isnan(lo) else lo
        hi = r["effect_rel"] if math.isinf(hi) or math.isnan(hi) else hi
        ax.plot([lo, hi], [i, i], color=colour, linewidth=2.5, solid_capstyle="round")
        ax.plot(r["effect_rel"], i, "o", color=colour, markersize=7)
    ax.axvline(0.0, color="#111827", linestyle="--", linewidth=1)
    ax.set_yticks(range(len(usable)), [label for _r, label in reversed(usable)])
    _percent_axis(ax)
    kind = "credible" if engine == "bayesian" else "confidence"
    ax.set_xlabel(f"relative lift vs {control} ({1 - alpha:.0%} {kind} interval)")
    ax.set_title("Relative lift by metric and variant", loc="left", fontweight="bold")
    ax.grid(axis="x", color="#e5e7eb")
    ax.set_axisbelow(True)
    return fig


def plot_lift_over_time(readout: ReadoutResult, *, metric: str | None = None) -> Figure:
    """Cumulative relative lift and its interval at the end of each day.

    Args:
        readout: The readout.
        metric: Metric key; default the first primary metric.

    Returns:
        The figure.
    """
    fig = _figure(9.0, 3.6)
    key = metric or (readout.facts.primary_metrics[0] if readout.facts.primary_metrics else None)
    frame = readout.over_time
    if key is not None:
        frame = frame.filter(frame["metric"] == key)
    if key is None or frame.is_empty():
        return _empty(fig, "Not enough days of data for a lift-over-time chart")
    ax = fig.add_subplot()
    colours = _readout_colours(readout)
    for variant in frame["variant"].unique(maintain_order=True).to_list():
        part = frame.filter(frame["variant"] == variant).sort("date")
        days = part["date"].to_list()
        colour = colours.get(variant, _GREY)
        lo = np.nan_to_num(part["ci_low_rel"].to_numpy(), nan=np.nan, neginf=np.nan)
        hi = np.nan_to_num(part["ci_high_rel"].to_numpy(), nan=np.nan, posinf=np.nan)
        ax.fill_between(days, lo, hi, color=colour, alpha=0.15, linewidth=0)
        ax.plot(days, part["effect_rel"].to_numpy(), color=colour, marker="o", markersize=3,
                label=variant)
    ax.axhline(0.0, color="#111827", linestyle="--", linewidth=1)
    _percent_axis(ax, "y")
    name = readout.metric_names.get(key, key)
    ax.set_title(f"{name}: cumulative relative lift vs {readout.facts.control}", loc="left",
                 fontweight="bold")
    ax.set_ylabel("relative lift")
    ax.legend(frameon=False, loc="upper left")
    ax.grid(color="#e5e7eb")
    fig.autofmt_xdate()
    return fig


def plot_exposures(readout: ReadoutResult) -> Figure:
    """Cumulative exposed units per variant by day (a flat line means exposure stopped).

    Args:
        readout: The readout.

    Returns:
        The figure.
    """
    fig = _figure(9.0, 3.2)
    frame = readout.quality.exposures_daily
    if frame.is_empty():
        return _empty(fig, "No exposures recorded")
    ax = fig.add_subplot()
    colours = _readout_colours(readout)
    for variant in frame["variant"].unique(maintain_order=True).to_list():
        part = frame.filter(frame["variant"] == variant).sort("date")
        ax.plot(part["date"].to_list(), part["cumulative_units"].to_numpy(),
                color=colours.get(variant, _GREY), marker="o", markersize=3, label=variant)
    ax.set_title("Exposed units over time (cumulative)", loc="left", fontweight="bold")
    ax.set_ylabel("units")
    ax.yaxis.set_major_formatter("{x:,.0f}")
    ax.legend(frameon=False, loc="upper left")
    ax.grid(color="#e5e7eb")
    fig.autofmt_xdate()
    return fig


def plot_posteriors(readout: ReadoutResult, *, metric: str | None = None) -> Figure:
    """Posterior of the relative lift per variant (Bayesian runs).

    The curve is the normal approximation matching each row's posterior mean and
    credible interval; the shaded area right of zero (left for metrics where lower
    is better) is the chance to win.

    Args:
        readout: The readout.
        metric: Metric key; default the first primary metric.

    Returns:
        The figure (a note for non-Bayesian readouts).
    """
    fig = _figure(9.0, 3.4)
    if readout.facts.engine != "bayesian":
        return _empty(fig, "Posterior plots are shown for Bayesian readouts (engine='bayesian')")
    key = metric or (readout.facts.primary_metrics[0] if readout.facts.primary_metrics else None)
    rows = [r for r in readout.results.iter_rows(named=True)
            if r["metric"] == key and not math.isnan(r["effect_rel"])
            and not math.isnan(r["ci_low_rel"])]
    if not rows:
        return _empty(fig, "No posterior to show yet")
    ax = fig.add_subplot()
    z = float(special.ndtri(1.0 - readout.facts.alpha / 2.0))
    colours = _readout_colours(readout)
    for r in rows:
        mean = r["effect_rel"]
        sd = max((r["ci_high_rel"] - r["ci_low_rel"]) / (2.0 * z), 1e-12)
        xs = np.linspace(mean - 4 * sd, mean + 4 * sd, 400)
        ys = np.exp(-0.5 * ((xs - mean) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
        colour = colours.get(r["variant"], _GREY)
        good = xs > 0 if r["direction"] == "increase" else xs < 0
        ax.plot(xs, ys, color=colour,
                label=f"{r['variant']} — chance to win {format_chance(r['chance_to_win'])}")
        ax.fill_between(xs, 0, ys, where=good, color=colour, alpha=0.2, linewidth=0)
    ax.axvline(0.0, color="#111827", linestyle="--", linewidth=1)
    _percent_axis(ax)
    name = readout.metric_names.get(key or "", key)
    ax.set_title(f"{name}: posterior of the relative lift", loc="left", fontweight="bold")
    ax.set_yticks([])
    ax.set_xlabel(f"relative lift vs {readout.facts.control}")
    ax.legend(frameon=False, loc="upper left")
    return fig
