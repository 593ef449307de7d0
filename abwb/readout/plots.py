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
from typing import TYPE_CHECKING

import numpy as np
from scipy import special

from abwb.readout.model import ReadoutResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_exposures", "plot_forest", "plot_lift_over_time", "plot_posteriors"]

_COLOURS = ("#2563eb", "#d97706", "#7c3aed", "#059669", "#db2777", "#0891b2")
_OUTCOME_COLOURS = {"better": "#059669", "worse": "#dc2626"}


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


def plot_forest(readout: ReadoutResult) -> Figure:
    """Forest plot: relative lift with its interval for every metric × variant.

    Green marks a significant improvement, red a significant harm, grey no
    conclusion; the dashed line is no change.

    Args:
        readout: The readout.

    Returns:
        The figure.
    """
    rows = [r for r in readout.results.iter_rows(named=True)]
    fig = _figure(9.0, 1.2 + 0.45 * max(len(rows), 1))
    usable = [r for r in rows if not math.isnan(r["effect_rel"])]
    if not usable:
        return _empty(fig, "No relative lifts to show yet")
    ax = fig.add_subplot()
    labels = []
    for i, r in enumerate(reversed(usable)):
        colour = _OUTCOME_COLOURS.get(r["outcome"], "#6b7280")
        lo, hi = r["ci_low_rel"], r["ci_high_rel"]
        lo = r["effect_rel"] if math.isinf(lo) else lo
        hi = r["effect_rel"] if math.isinf(hi) else hi
        ax.plot([lo, hi], [i, i], color=colour, linewidth=2.5, solid_capstyle="round")
        ax.plot(r["effect_rel"], i, "o", color=colour, markersize=7)
        labels.append(f"{r['metric_name']} · {r['variant']}  ({r['role']})")
    ax.axvline(0.0, color="#111827", linestyle="--", linewidth=1)
    ax.set_yticks(range(len(labels)), labels)
    _percent_axis(ax)
    level = 1 - readout.facts.alpha
    kind = "credible" if readout.facts.engine == "bayesian" else "confidence"
    ax.set_xlabel(f"relative lift vs {readout.facts.control} ({level:.0%} {kind} interval)")
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
    for i, variant in enumerate(frame["variant"].unique(maintain_order=True).to_list()):
        part = frame.filter(frame["variant"] == variant).sort("date")
        days = part["date"].to_list()
        colour = _COLOURS[i % len(_COLOURS)]
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
    for i, variant in enumerate(frame["variant"].unique(maintain_order=True).to_list()):
        part = frame.filter(frame["variant"] == variant).sort("date")
        ax.plot(part["date"].to_list(), part["cumulative_units"].to_numpy(),
                color=_COLOURS[i % len(_COLOURS)], marker="o", markersize=3, label=variant)
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
    for i, r in enumerate(rows):
        mean = r["effect_rel"]
        sd = max((r["ci_high_rel"] - r["ci_low_rel"]) / (2.0 * z), 1e-12)
        xs = np.linspace(mean - 4 * sd, mean + 4 * sd, 400)
        ys = np.exp(-0.5 * ((xs - mean) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
        colour = _COLOURS[i % len(_COLOURS)]
        good = xs > 0 if r["direction"] == "increase" else xs < 0
        ax.plot(xs, ys, color=colour,
                label=f"{r['variant']} — chance to win {r['chance_to_win']:.0%}")
        ax.fill_between(xs, 0, ys, where=good, color=colour, alpha=0.2, linewidth=0)
    ax.axvline(0.0, color="#111827", linestyle="--", linewidth=1)
    _percent_axis(ax)
    name = readout.metric_names.get(key or "", key)
    ax.set_title(f"{name}: posterior of the relative lift", loc="left", fontweight="bold")
    ax.set_yticks([])
    ax.set_xlabel(f"relative lift vs {readout.facts.control}")
    ax.legend(frameon=False, loc="upper left")
    return fig
