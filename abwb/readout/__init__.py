"""Readouts: one call from stores to a decision, plus its tables, plots and report files.

Use in a notebook::

    stores = abwb.readout.connect(database_url)
    readout = abwb.readout.build_readout(stores, "checkout-redesign", as_of="2026-06-01")
    # or, for a readout ``abwb readout`` computed and saved:
    # readout = abwb.readout.load_readout("reports/checkout-redesign/2026-06-01/readout.pkl")
    abwb.readout.headline(readout); abwb.readout.results_table(readout)
    abwb.readout.plot_forest(readout)

Unattended: ``abwb readout KEY`` (:func:`run_readout`).
"""

from abwb.readout.analysis import (
    MetricData,
    analyse_metrics,
    compare_metrics,
    lift_over_time,
    results_frame,
)
from abwb.readout.build import assemble_readout, build_readout, last_complete_day
from abwb.readout.formatting import describe_row, format_p_value, format_percent
from abwb.readout.model import (
    ExperimentFacts,
    QualityCheck,
    ReadoutDecision,
    ReadoutParameters,
    ReadoutQuality,
    ReadoutResult,
    VariantFacts,
)
from abwb.readout.plots import (
    plot_exposures,
    plot_forest,
    plot_lift_over_time,
    plot_posteriors,
    variant_colours,
)
from abwb.readout.recommendation import recommend, ship_rule_for
from abwb.readout.report import (
    export_html,
    load_readout,
    readout_to_dict,
    report_dir,
    save_readout,
    write_results,
)
from abwb.readout.runner import NotebookFailed, ReadoutRun, ensure_kernel, run_readout
from abwb.readout.session import connect, load_or_build_readout, require_version
from abwb.readout.tables import (
    HtmlTable,
    data_window,
    decision_table,
    facts_table,
    guardrail_table,
    headline,
    quality_table,
    results_intro,
    results_table,
)

__all__ = [
    "ExperimentFacts",
    "HtmlTable",
    "MetricData",
    "NotebookFailed",
    "QualityCheck",
    "ReadoutDecision",
    "ReadoutParameters",
    "ReadoutQuality",
    "ReadoutResult",
    "ReadoutRun",
    "VariantFacts",
    "analyse_metrics",
    "assemble_readout",
    "build_readout",
    "compare_metrics",
    "connect",
    "data_window",
    "decision_table",
    "describe_row",
    "ensure_kernel",
    "export_html",
    "facts_table",
    "format_p_value",
    "format_percent",
    "guardrail_table",
    "headline",
    "last_complete_day",
    "lift_over_time",
    "load_or_build_readout",
    "load_readout",
    "plot_exposures",
    "plot_forest",
    "plot_lift_over_time",
    "plot_posteriors",
    "quality_table",
    "readout_to_dict",
    "recommend",
    "report_dir",
    "require_version",
    "results_frame",
    "results_intro",
    "results_table",
    "run_readout",
    "save_readout",
    "ship_rule_for",
    "variant_colours",
    "write_results",
]
