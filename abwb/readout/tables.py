"""Readout tables for people: labelled columns, rounded numbers, styled HTML.

What belongs here: :class:`HtmlTable` (a small, dependency-free table with an HTML
representation Jupyter displays and a plain-text one for terminals), the builders
of each readout section's table, and the headline banner. Formatting only; the
numbers come from :class:`~abwb.readout.model.ReadoutResult`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from abwb.readout.formatting import format_chance, format_p_value, format_percent
from abwb.readout.model import ReadoutResult

__all__ = [
    "Headline",
    "HtmlTable",
    "data_window",
    "decision_table",
    "facts_table",
    "guardrail_table",
    "headline",
    "method_label",
    "quality_table",
    "results_intro",
    "results_table",
]

_STYLE = (
    "<style>"
    ".abwb-scroll{max-width:100%;overflow-x:auto}"
    ".abwb-table{border-collapse:collapse;font-family:system-ui,-apple-system,sans-serif;"
    "font-size:13px;margin:6px 0 14px 0}"
    ".abwb-table caption{text-align:left;font-weight:600;padding:4px 0;font-size:14px}"
    ".abwb-table th{background:#f3f4f6;text-align:left;padding:6px 10px;"
    "border-bottom:2px solid #d1d5db}"
    ".abwb-table td{padding:5px 10px;border-bottom:1px solid #e5e7eb;text-align:left!important}"
    ".abwb-table th{text-align:left!important}"
    ".abwb-table td.num{text-align:right!important;font-variant-numeric:tabular-nums;"
    "white-space:nowrap}"
    ".abwb-good{color:#047857;font-weight:600}.abwb-bad{color:#b91c1c;font-weight:600}"
    ".abwb-muted{color:#6b7280}.abwb-caution{color:#b45309;font-weight:600}"
    ".abwb-table td.abwb-key,.abwb-table td.abwb-good,.abwb-table td.abwb-bad{white-space:nowrap}"
    ".abwb-headline{font-family:system-ui,-apple-system,sans-serif;font-size:18px;"
    "padding:14px 18px;border-radius:8px;margin:8px 0 16px 0;line-height:1.4}"
    ".abwb-ship{background:#ecfdf5;border-left:6px solid #059669}"
    ".abwb-stop{background:#fef2f2;border-left:6px solid #dc2626}"
    ".abwb-wait{background:#eff6ff;border-left:6px solid #2563eb}"
    ".abwb-warn{background:#fffbeb;border-left:6px solid #d97706}"
    ".abwb-headline small{display:block;font-size:13px;color:#4b5563;margin-top:4px}"
    "</style>"
)

Cell = str | tuple[str, str]  # text, or (text, css class)


@dataclass(frozen=True, slots=True)
class HtmlTable:
    """A formatted table: Jupyter shows the HTML, a terminal the text.

    Args:
        caption: Title shown above the table; empty for none (a report section's
            heading already names it).
        columns: Column labels; all empty for a key-value table without a header.
        rows: Cells as text, or ``(text, css_class)`` with ``num``, ``abwb-good``,
            ``abwb-bad``, ``abwb-muted`` or ``abwb-key`` (never wrapped).

    Examples:
        >>> t = HtmlTable("Facts", ("field", "value"), (("units", ("1,200", "num")),))
        >>> print(t)
        Facts
        field | value
        units | 1,200
    """

    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = []
        for row in self.rows:
            cells = []
            for cell in row:
                text, css = (cell, "") if isinstance(cell, str) else cell
                cls = f' class="{css}"' if css else ""
                cells.append(f"<td{cls}>{html.escape(text)}</td>")
            body.append(f"<tr>{''.join(cells)}</tr>")
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        thead = f"<thead><tr>{head}</tr></thead>" if any(self.columns) else ""
        # The wrapper scrolls sideways instead of clipping a wide table (an 800 px report).
        return (
            f'{_STYLE}<div class="abwb-scroll"><table class="abwb-table">{caption}{thead}'
            f"<tbody>{''.join(body)}</tbody></table></div>"
        )

    def __str__(self) -> str:
        body = [[c if isinstance(c, str) else c[0] for c in r] for r in self.rows]
        grid = ([list(self.columns)] if any(self.columns) else []) + body
        widths = [max((len(r[i]) for r in grid if i < len(r)), default=0)
                  for i in range(max((len(r) for r in grid), default=0))]
        lines = [self.caption] if self.caption else []
        lines += [" | ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=False)).rstrip()
                  for r in grid]
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Headline:
    """The decision banner at the top of a report."""

    action: str
    text: str
    rule: str

    def _repr_html_(self) -> str:
        css = {"ship": "abwb-ship", "do_not_ship": "abwb-stop", "investigate": "abwb-warn"}
        return (
            f'{_STYLE}<div class="abwb-headline {css.get(self.action, "abwb-wait")}">'
            f"<b>{html.escape(self.text)}</b><small>Decision rule — {html.escape(self.rule)}"
            "</small></div>"
        )

    def __str__(self) -> str:
        return f"{self.text}\n  ({self.rule})"


def headline(readout: ReadoutResult) -> Headline:
    """The decision banner: the headline and the rule that made it."""
    d = readout.decision
    return Headline(d.action, d.headline, d.rule)


def _num(value: float, fmt: str = "{:,.4g}") -> Cell:
    return ("—" if math.isnan(value) else fmt.format(value), "num")


def _date(value: object) -> str:
    return "—" if value is None else str(value)[:16].replace("T", " ")


def facts_table(readout: ReadoutResult, *, caption: str = "") -> HtmlTable:
    """Experiment facts: what ran, for how long, on how many units, under which config."""
    f = readout.facts
    variants = ", ".join(
        f"{v.key} {v.weight:.0%}{' (control)' if v.is_control and v.key != 'control' else ''}"
        for v in f.variants
    )
    rows: list[tuple[Cell, ...]] = [
        ("Experiment", f"{f.name or f.key} ({f.key})"),
        ("Hypothesis", f.hypothesis or "—"),
        ("Owner", f.owner or "—"),
        ("Status · phase", f"{f.status} · phase {f.phase}"),
        ("Variants (weights)", variants),
        ("Traffic", f"{f.traffic_fraction:.0%} of eligible {f.unit_type}s"),
        ("Data window", data_window(readout)),
        ("Days running", (f"{f.days_running}", "num")),
        ("Exposed units", (f"{f.units:,}", "num")),
        ("Analysis", f"{f.engine}, alpha = {f.alpha:g}"),
        ("Config version", f"experiment v{f.experiment_version} · workspace v{f.config_version}"),
        ("Metrics", _metric_roles(readout)),
        ("Computed", _computed(readout)),
    ]
    return HtmlTable(caption, ("", ""), tuple(rows))


def data_window(readout: ReadoutResult) -> str:
    """Which window was analysed, in words, saying when the last day is partial.

    Args:
        readout: The readout.

    Returns:
        E.g. ``2026-05-01 09:00 → end of 2026-05-10 (UTC)``, with ``today: a partial day,
        data up to 14:05`` when ``as_of`` is the day the readout was computed.
    """
    f = readout.facts
    text = f"{_date(f.first_exposure_at)} → end of {f.as_of} (UTC)"
    at = readout.computed_at
    if at is not None and at.date() == f.as_of:
        text += f"; {f.as_of} is today: a partial day, data up to {at:%H:%M} UTC"
    elif at is not None and at.date() == f.as_of + timedelta(days=1):
        text += "; the last complete day before the run"
    return text


def _computed(readout: ReadoutResult) -> str:
    at = "—" if readout.computed_at is None else f"{readout.computed_at:%Y-%m-%d %H:%M} UTC"
    return f"{at} · abwb {readout.abwb_version or '?'}"


def _metric_roles(readout: ReadoutResult) -> str:
    f = readout.facts
    parts = [
        f"{label}: {', '.join(keys)}"
        for label, keys in (("primary", f.primary_metrics), ("secondary", f.secondary_metrics),
                            ("guardrails", f.guardrail_metrics))
        if keys
    ]
    return "; ".join(parts) or "—"


def quality_table(readout: ReadoutResult, *, caption: str = "") -> HtmlTable:
    """Data-quality checks with a pass/fail mark and a readable explanation."""
    rows = tuple(
        (
            c.name,
            ("✓ pass", "abwb-good") if c.passed else ("✗ fail", "abwb-bad"),
            c.detail,
        )
        for c in readout.quality.checks
    )
    return HtmlTable(caption, ("check", "result", "detail"), rows)


def _outcome_cell(row: dict[str, object]) -> Cell:
    """The outcome, coloured; a guardrail's colour follows its guardrail status."""
    outcome = str(row["outcome"])
    if row.get("role") == "guardrail" and row.get("guardrail_status") is not None:
        if row["guardrail_status"] == "harmed":
            return ("worse (harmed)", "abwb-bad")
        if outcome == "worse":
            return ("worse (within tolerance)", "abwb-caution")
    css = {"better": "abwb-good", "worse": "abwb-bad"}.get(outcome, "abwb-muted")
    return (outcome, css)


def _metric_value(value: float, kind: str) -> Cell:
    if math.isnan(value):
        return ("—", "num")
    if kind == "binomial":
        return (f"{value:.2%}", "num")
    return (f"{value:,.4g}", "num")


def results_table(readout: ReadoutResult, *, roles: Sequence[str] = ("primary", "secondary"),
                  caption: str = "") -> HtmlTable:
    """Per metric × variant: values, lift, interval, evidence, method, outcome.

    Args:
        readout: The readout.
        roles: Metric roles to include.
        caption: Table caption (none by default).

    Returns:
        The table (p-values are the adjusted ones; Bayesian runs show chance to win;
        the method names CUPED with its variance reduction, and any capping).
    """
    bayes = readout.facts.engine == "bayesian"
    level = f"{1 - readout.facts.alpha:.0%}"
    columns = (
        "metric", "role", "variant", "control value", "variant value", "lift",
        f"{level} {'credible' if bayes else 'confidence'} interval",
        "chance to win" if bayes else "p-value (adj.)", "units (control / variant)", "method",
        "outcome",
    )
    rows = []
    for r in readout.results.filter(readout.results["role"].is_in(list(roles))).iter_rows(
        named=True
    ):
        evidence: Cell = (
            (format_chance(r["chance_to_win"]), "num") if bayes
            else (format_p_value(r["p_value_adjusted"]).removeprefix("p = "), "num")
        )
        rows.append((
            r["metric_name"],
            r["role"],
            (r["variant"], "abwb-key"),
            _metric_value(r["mean_control"], r["kind"]),
            _metric_value(r["mean_treatment"], r["kind"]),
            (format_percent(r["effect_rel"]), "num"),
            (f"[{format_percent(r['ci_low_rel'])}, {format_percent(r['ci_high_rel'])}]", "num"),
            evidence,
            (f"{r['n_control']:,} / {r['n_treatment']:,}", "num"),
            method_label(r),
            _outcome_cell(r),
        ))
    return HtmlTable(caption, columns, tuple(rows))


def results_intro(readout: ReadoutResult) -> str:
    """The sentence introducing the results section, true for the readout's engine.

    Args:
        readout: The readout.

    Returns:
        Markdown: p-values and corrections for frequentist / sequential readouts,
        chance to win and credible intervals for Bayesian ones.
    """
    level = f"{1 - readout.facts.alpha:.0%}"
    if readout.facts.engine == "bayesian":
        text = (f"Lift of each variant against control with its {level} credible interval. "
                "*Chance to win* is the posterior probability that the variant is better "
                f"than control in the metric's good direction; a variant wins at ≥ {level}. "
                "Ratio metrics have no conjugate posterior and show a delta-method p-value.")
    else:
        always = (" The intervals are always-valid confidence sequences, safe to look at "
                  "every day." if readout.facts.engine == "sequential" else "")
        text = ("Lift of each variant against control. p-values are adjusted for the number "
                f"of comparisons; {level} intervals are per comparison.{always}")
    return text + (" Metrics with a pre-period covariate use CUPED, and the method column "
                   "shows how much variance it removed.")


_METHODS = {
    "two_proportion_z": "z-test",
    "fisher_exact": "Fisher exact test",
    "welch_t": "t-test",
    "cuped_welch_t": "CUPED t-test",
    "delta_ratio_z": "delta method",
    "asymptotic_cs": "confidence sequence",
    "asymptotic_cs_cuped": "CUPED confidence sequence",
    "asymptotic_cs_ratio": "ratio confidence sequence",
    "beta_binomial": "Beta-Binomial",
    "normal_approx": "Normal posterior",
}


def method_label(row: dict[str, object]) -> str:
    """The test of a result row for people, with CUPED's variance reduction and capping.

    Args:
        row: A row of the results frame.

    Returns:
        E.g. ``CUPED t-test (variance -38 %) · capped at p99``.

    Examples:
        >>> method_label({"method": "cuped_welch_t", "variance_reduction": 0.381,
        ...               "capping": "p99"})
        'CUPED t-test (variance -38 %) · capped at p99'
        >>> method_label({"method": "two_proportion_z", "variance_reduction": float("nan"),
        ...               "capping": None})
        'z-test'
    """
    method = str(row["method"])
    label = _METHODS.get(method, method)
    reduction = row["variance_reduction"]
    if isinstance(reduction, float) and not math.isnan(reduction):
        label += f" (variance {format_percent(-reduction, digits=0)})"
    if row["capping"]:
        label += f" · capped at {row['capping']}"
    return label


def guardrail_table(readout: ReadoutResult, *, caption: str = "") -> HtmlTable:
    """Guardrail metrics: lift, interval, tolerated harm and whether it was harmed."""
    guardrails = readout.results.filter(readout.results["role"] == "guardrail")
    if guardrails.is_empty():
        return HtmlTable(caption, ("",), ((("No guardrail metrics are defined for this "
                                            "experiment.", "abwb-muted"),),))
    rows = []
    for r in guardrails.iter_rows(named=True):
        tolerated = r["guardrail_max_harm_rel"]
        harmed = r["guardrail_status"] == "harmed"
        rows.append((
            r["metric_name"],
            (r["variant"], "abwb-key"),
            f"{'lower' if r['direction'] == 'decrease' else 'higher'} is better",
            (format_percent(r["effect_rel"]), "num"),
            (f"[{format_percent(r['ci_low_rel'])}, {format_percent(r['ci_high_rel'])}]", "num"),
            ("0 %" if math.isnan(tolerated) else format_percent(tolerated, signed=False), "num"),
            ("✗ harmed", "abwb-bad") if harmed else (
                ("not established", "abwb-muted") if r["guardrail_status"] == "not_established"
                else ("worse (within tolerance)", "abwb-caution") if r["outcome"] == "worse"
                else ("✓ not harmed", "abwb-good")
            ),
        ))
    return HtmlTable(
        caption,
        ("metric", "variant", "direction", "lift", "interval", "tolerated harm", "verdict"),
        tuple(rows),
    )


def decision_table(readout: ReadoutResult, *, caption: str = "") -> HtmlTable:
    """The decision, the rule that made it and the supporting evidence."""
    d = readout.decision
    rows: list[tuple[Cell, ...]] = [
        ("Decision", d.action.replace("_", " ") + (f" ({d.variant})" if d.variant else "")),
        ("Rule", d.rule),
    ]
    rows += [("Evidence", reason) for reason in d.reasons]
    return HtmlTable(caption, ("", ""), tuple(rows))
