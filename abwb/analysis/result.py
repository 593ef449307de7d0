"""The result of a frame analysis: one tidy table, for people and for code.

What belongs here: :class:`AnalysisResult`, which wraps the typed
:class:`~abwb.stats.analysis.AnalysisTable` with each metric's desired direction
and presents it — a concise polars frame (:meth:`AnalysisResult.to_polars`, the full
one on request), HTML that JupyterLab displays, a readable ``print``, and a forest
plot in one call. Formatting reuses the readout's (:mod:`abwb.readout.formatting`,
:class:`~abwb.readout.tables.HtmlTable`), so a lift reads the same everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from abwb.config.metric import MetricKind
from abwb.readout.formatting import format_chance, format_p_value, format_percent
from abwb.readout.tables import Cell, HtmlTable, method_label
from abwb.stats.analysis import AnalysisTable
from abwb.stats.bayesian import BayesResult
from abwb.stats.methods import Comparison
from abwb.stats.results import ComparisonResult
from abwb.stats.ship_rule import Direction, outcome

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["CONCISE_COLUMNS", "FULL_SCHEMA", "AnalysisResult"]

#: Every column of :meth:`AnalysisResult.to_polars` with ``view="full"``.
FULL_SCHEMA: dict[str, Any] = {
    "metric": pl.String,
    "kind": pl.String,
    "direction": pl.String,
    "control": pl.String,
    "variant": pl.String,
    "n_control": pl.Int64,
    "n_treatment": pl.Int64,
    "mean_control": pl.Float64,
    "mean_treatment": pl.Float64,
    "effect_abs": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "effect_rel": pl.Float64,
    "ci_low_rel": pl.Float64,
    "ci_high_rel": pl.Float64,
    "p_value": pl.Float64,
    "p_value_adjusted": pl.Float64,
    "chance_to_win": pl.Float64,
    "risk_treatment": pl.Float64,
    "variance_reduction": pl.Float64,
    "method": pl.String,
    "status": pl.String,
    "outcome": pl.String,
}

#: The default view; ``p_value_adjusted`` / ``chance_to_win`` appear when some row has one.
CONCISE_COLUMNS: tuple[str, ...] = (
    "metric", "variant", "effect_abs", "effect_rel",
    "ci_low_rel", "ci_high_rel", "p_value_adjusted", "chance_to_win", "method", "status",
    "outcome",
)


def _row(r: Comparison, kind: str, direction: Direction) -> dict[str, Any]:
    freq = r if isinstance(r, ComparisonResult) else None
    bayes = r if isinstance(r, BayesResult) else None
    chance = math.nan
    if bayes is not None:
        ctb = bayes.chance_to_beat_control
        chance = ctb if direction == "increase" else 1.0 - ctb
    return {
        "metric": r.metric, "kind": kind, "direction": direction, "control": r.control,
        "variant": r.treatment, "n_control": r.n_control, "n_treatment": r.n_treatment,
        "mean_control": r.mean_control, "mean_treatment": r.mean_treatment,
        "effect_abs": r.effect_abs, "ci_low": r.ci_low, "ci_high": r.ci_high,
        "effect_rel": r.effect_rel, "ci_low_rel": r.ci_low_rel, "ci_high_rel": r.ci_high_rel,
        "p_value": freq.p_value if freq else math.nan,
        "p_value_adjusted": freq.p_value_adjusted if freq else math.nan,
        "chance_to_win": chance,
        "risk_treatment": bayes.risk_treatment if bayes else math.nan,
        "variance_reduction": freq.variance_reduction if freq else math.nan,
        "method": r.method, "status": r.status, "outcome": outcome(r, direction),
    }


def _value(value: float, kind: str) -> Cell:
    if math.isnan(value):
        return ("—", "num")
    return (f"{value:.2%}", "num") if kind == "binomial" else (f"{value:,.4g}", "num")


@dataclass(frozen=True, slots=True, repr=False)
class AnalysisResult:
    """Every metric × treatment of one analysis, with directions for reading it.

    Args:
        table: The typed results (:func:`abwb.stats.analysis.analyze`).
        directions: Metric → which way is good (``increase`` when missing).
        kinds: Metric → metric-definition kind (for formatting; ``mean`` when missing).

    Examples:
        >>> from abwb.stats.analysis import analyze
        >>> from abwb.stats.summary import MeanStats
        >>> t = analyze({"cr": {"control": MeanStats.from_counts(100, 1000),
        ...                     "b": MeanStats.from_counts(140, 1000)}},
        ...             control="control", kinds={"cr": "binomial"})
        >>> AnalysisResult(t).to_polars()["outcome"].to_list()
        ['better']
    """

    table: AnalysisTable
    directions: Mapping[str, Direction] = field(default_factory=dict)
    kinds: Mapping[str, MetricKind] = field(default_factory=dict)

    def get(self, metric: str, treatment: str) -> Comparison:
        """The typed result of one metric and treatment.

        Args:
            metric: Metric name.
            treatment: Treatment variant.

        Returns:
            The result.

        Raises:
            InvalidInput: No such pair.
        """
        return self.table.get(metric, treatment)

    def rows(self) -> list[dict[str, Any]]:
        """One dict per metric × treatment with every :data:`FULL_SCHEMA` column."""
        return [_row(r, self.kinds.get(r.metric, "mean"),
                     self.directions.get(r.metric, "increase")) for r in self.table]

    def to_polars(self, view: Literal["concise", "full"] = "concise") -> pl.DataFrame:
        """The results as a polars frame.

        Args:
            view: ``concise`` (lift, interval, evidence, method, status, outcome; the
                evidence column the engine produced) or ``full`` (:data:`FULL_SCHEMA`).

        Returns:
            One row per metric × treatment.
        """
        frame = pl.DataFrame(self.rows(), schema=FULL_SCHEMA, orient="row")
        if view == "full":
            return frame
        columns = [c for c in CONCISE_COLUMNS
                   if c not in ("p_value_adjusted", "chance_to_win")
                   or not frame[c].is_nan().all()]
        return frame.select(columns)

    def _evidence(self) -> tuple[bool, bool]:
        has_p = any(isinstance(r, ComparisonResult) for r in self.table)
        has_chance = any(isinstance(r, BayesResult) for r in self.table)
        return has_p, has_chance

    def html_table(self) -> HtmlTable:
        """The results as a formatted table (what Jupyter and ``print`` show).

        Returns:
            The table: values, lift with its interval, p-value (adjusted) and/or
            chance to win, method, outcome.
        """
        has_p, has_chance = self._evidence()
        level = f"{1 - self.table.config.alpha:.0%}"
        kind = "credible" if self.table.engine == "bayesian" else "confidence"
        columns = ("metric", "variant", "control", "treatment", "lift (abs)", "lift",
                   f"{level} {kind} interval",
                   *(("p-value (adj.)",) if has_p else ()),
                   *(("chance to win",) if has_chance else ()),
                   "method", "outcome")
        rows = []
        for r in self.rows():
            evidence: list[Cell] = []
            if has_p:
                p = r["p_value_adjusted"]
                evidence.append(("—" if math.isnan(p) else
                                 format_p_value(p).removeprefix("p = "), "num"))
            if has_chance:
                evidence.append((format_chance(r["chance_to_win"]), "num"))
            read = r["outcome"] if r["status"] in ("ok", "zero_control_mean") else r["status"]
            css = {"better": "abwb-good", "worse": "abwb-bad"}.get(read, "abwb-muted")
            rows.append((
                r["metric"], (r["variant"], "abwb-key"),
                _value(r["mean_control"], r["kind"]), _value(r["mean_treatment"], r["kind"]),
                ("—" if math.isnan(r["effect_abs"]) else f"{r['effect_abs']:+,.4g}", "num"),
                (format_percent(r["effect_rel"]), "num"),
                (f"[{format_percent(r['ci_low_rel'])}, {format_percent(r['ci_high_rel'])}]",
                 "num"),
                *evidence,
                method_label({**r, "capping": None}),
                (read.replace("_", " "), css),
            ))
        caption = f"{self.table.engine} analysis, alpha = {self.table.config.alpha:g}"
        if has_p and self.table.config.correction != "none":
            caption += f", p-values {self.table.config.correction}-adjusted"
        return HtmlTable(caption, columns, tuple(rows))

    def _repr_html_(self) -> str:
        return self.html_table()._repr_html_()

    def __str__(self) -> str:
        return str(self.html_table())

    def __repr__(self) -> str:
        # The table, not the nested dataclasses: this is what a notebook shows as text.
        return str(self.html_table())

    def plot(self) -> Figure:
        """Forest plot of the relative lifts (:func:`abwb.readout.plots.plot_forest`).

        Returns:
            The matplotlib figure.
        """
        from abwb.readout.plots import plot_forest

        return plot_forest(self)
