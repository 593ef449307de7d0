"""Analyse a per-unit polars frame in one call (tea-tasting style).

Declare metrics, analyse, read one tidy result::

    from abwb.analysis import Mean, Proportion, Ratio, analyze_frame

    result = analyze_frame(users, {
        "conversion": Proportion("converted"),
        "orders": Mean("orders", covariate="orders_before"),   # CUPED
        "revenue per order": Ratio("revenue", "orders"),
    }, control="control", engine="frequentist")
    result            # HTML table in JupyterLab; print(result) in a terminal
    result.to_polars()  # concise frame; to_polars("full") for every column
    result.plot()       # forest plot

This package imports polars; ``import abwb`` does not import it.
"""

from abwb.analysis.declarations import Mean, MetricSpec, Proportion, Ratio
from abwb.analysis.frame import analyze_frame, frame_statistics
from abwb.analysis.result import AnalysisResult

__all__ = [
    "AnalysisResult",
    "Mean",
    "MetricSpec",
    "Proportion",
    "Ratio",
    "analyze_frame",
    "frame_statistics",
]
