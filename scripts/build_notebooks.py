"""Generate notebooks/readout.ipynb, explore.ipynb and planning.ipynb (without outputs).

Run: .venv/bin/python scripts/build_notebooks.py
The notebooks are thin: parameters, a version check, and calls into abwb.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent / "notebooks"
MIN_VERSION = "0.1.0"


def code(source: str, *tags: str) -> nbformat.NotebookNode:
    cell = new_code_cell(source.strip())
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def md(source: str) -> nbformat.NotebookNode:
    return new_markdown_cell(source.strip())


VERSION_CHECK = f"""
import abwb
import abwb.readout

installed_version = abwb.readout.require_version("{MIN_VERSION}")
"""


def readout() -> nbformat.NotebookNode:
    cells = [
        code('''
# Parameters (papermill injects overrides after this cell). Literals only.
experiment_key = "checkout-redesign"
database_url = None  # None: ABWB_DATABASE_URL or the embedded default
database_schema = None  # PostgreSQL schema; None: ABWB_DATABASE_SCHEMA or public
warehouse_url = None  # run the metric SQL there: "postgresql://...", "local[2]"; None: the store
warehouse_tables = None  # the tables there, as --warehouse-tables takes them; None: the defaults
as_of = None  # ISO date "2026-06-01" (last day of data, UTC); None: the last complete day
alpha = 0.05
engine = "frequentist"  # "frequentist" | "sequential" | "bayesian"
metrics = None  # None: the experiment's own primary / secondary / guardrail metrics
segments = []
readout_path = None  # a readout saved by `abwb readout` (presented as is); None: compute here
''', "parameters"),
        code(VERSION_CHECK),
        code('''
%matplotlib inline
from IPython.display import Markdown, display

readout = abwb.readout.load_or_build_readout(
    readout_path, experiment_key=experiment_key, database_url=database_url,
    database_schema=database_schema, as_of=as_of, engine=engine, alpha=alpha,
    metrics=metrics, segments=segments, warehouse_url=warehouse_url,
    warehouse_tables=warehouse_tables,
)
display(Markdown(f"# Readout: {readout.facts.name or readout.facts.key}"))
abwb.readout.headline(readout)
'''),
        md("## Experiment"),
        code("abwb.readout.facts_table(readout)"),
        md("## Data quality\nSample ratio, variants, crossovers, an offline re-assignment audit "
           "and events logged before exposure. If a check fails, the decision is *investigate*."),
        code("abwb.readout.quality_table(readout)"),
        code("abwb.readout.plot_exposures(readout)"),
        md("## Results"),
        code("display(Markdown(abwb.readout.results_intro(readout)))"),
        code("abwb.readout.results_table(readout)", "nbval-check"),
        code("abwb.readout.plot_forest(readout)"),
        code("abwb.readout.plot_lift_over_time(readout)"),
        code('''
if readout.facts.engine == "bayesian":
    display(abwb.readout.plot_posteriors(readout))
'''),
        md("## Guardrails"),
        code("abwb.readout.guardrail_table(readout)"),
        md("## Decision"),
        code("abwb.readout.decision_table(readout)"),
    ]
    return new_notebook(cells=cells, metadata=_metadata())


def explore() -> nbformat.NotebookNode:
    cells = [
        md("# Exploring experiments with abwb\nAnalyse a per-unit frame in one call, then "
           "look at the stored exposures and events, define a metric and analyse it."),
        code('''
experiment_key = "checkout-redesign"
database_url = None  # None: ABWB_DATABASE_URL or the embedded default
''', "parameters"),
        code(VERSION_CHECK),
        md("## Analyse a per-unit frame in one call\n"
           "One row per unit: its variant and one column per measure. Declare the metrics "
           "(`Proportion`, `Mean` with an optional pre-period `covariate` for CUPED, `Ratio` "
           "of two columns) and `analyze_frame` returns one tidy result from the same method "
           "registry the readout uses. Here the frame is built from the stored exposures and "
           "purchases; any polars frame of yours works the same way."),
        code('''
%matplotlib inline
import polars as pl

from abwb.analysis import Mean, Proportion, Ratio, analyze_frame

config_store, event_store = abwb.readout.connect(database_url)
experiment = config_store.get("experiment", experiment_key)
exposures = event_store.read_exposures(experiment=experiment_key)
events = event_store.read_events()
purchases_per_unit = (events.filter(pl.col("name") == "purchase").group_by("unit_id")
                      .agg(orders=pl.len(), revenue=pl.col("value").fill_null(0.0).sum()))
units = (exposures.group_by("unit_id").agg(pl.col("variant").first())
         .join(purchases_per_unit, on="unit_id", how="left")
         .with_columns(pl.col("orders").fill_null(0), pl.col("revenue").fill_null(0.0))
         .with_columns(purchased=pl.col("orders") > 0))
units.head()
'''),
        code('''
result = analyze_frame(units, {
    "purchase": Proportion("purchased"),
    "orders per user": Mean("orders"),
    "revenue per order": Ratio("revenue", "orders"),
}, control=experiment.control.key)
result
''', "nbval-check"),
        code("result.plot()"),
        md("The same frame under the Bayesian engine: chance to win instead of p-values. "
           "`result.to_polars()` is the concise frame, `to_polars(\"full\")` every column."),
        code('''
bayes = analyze_frame(units, {"purchase": Proportion("purchased"),
                              "orders per user": Mean("orders")},
                      control=experiment.control.key, engine="bayesian")
bayes.to_polars()
'''),
        md("## The experiments and their data"),
        code('''
[(e.key, e.status, len(e.variants)) for e in config_store.list("experiment")]
'''),
        code('exposures.group_by("variant").len().sort("variant")'),
        code('events.group_by("name").len().sort("name")'),
        md("## Define a metric and analyse it\nA `MetricDefinition` need not be saved to "
           "be analysed: the metric pipeline computes its per-variant statistics from the "
           "store (windows, capping and CUPED as defined), and the result reads like the one "
           "above."),
        code('''
from abwb.analysis import AnalysisResult
from abwb.config import MetricDefinition
from abwb.metrics import statistics_from_store
from abwb.stats import analyze

purchases = MetricDefinition(key="purchases-7d", kind="count", event="purchase",
                             window_end_s=7 * 86400, name="Purchases in 7 days")
statistics = statistics_from_store(event_store, [purchases], experiment=experiment)
AnalysisResult(analyze(statistics.statistics, control=experiment.control.key,
                       kinds={purchases.key: purchases.kind}))
'''),
        md("## The experiment's own readout"),
        code('''
readout = abwb.readout.build_readout((config_store, event_store), experiment_key)
abwb.readout.results_table(readout)
'''),
        code("abwb.readout.plot_forest(readout)"),
        code('''
config_store.close()
event_store.close()
'''),
    ]
    return new_notebook(cells=cells, metadata=_metadata())


def planning() -> nbformat.NotebookNode:
    cells = [
        md("# Planning an experiment: sample size, MDE and duration\n"
           "Power calculations from `abwb.stats.power`, with CUPED variance reduction."),
        code('''
baseline_rate = 0.10  # control conversion rate
relative_mde = 0.05  # smallest relative lift worth detecting
alpha = 0.05
target_power = 0.8
daily_units = 5000  # eligible units per day entering the experiment
cuped_variance_reduction = 0.3  # ≈ ρ² of the pre-period covariate (0 without CUPED)
''', "parameters"),
        code(VERSION_CHECK),
        code('''
from abwb.stats.config import AnalysisConfig
from abwb.stats.power import mde, sample_size

config = AnalysisConfig(alpha=alpha)
var = baseline_rate * (1 - baseline_rate)
effect = baseline_rate * relative_mde
plain = sample_size(effect_abs=effect, var=var, target_power=target_power, config=config)
cuped = sample_size(effect_abs=effect, var=var, target_power=target_power, config=config,
                    variance_reduction=cuped_variance_reduction)
abwb.readout.HtmlTable(
    "Sample size per arm",
    ("design", "units per arm", "total units", "days at daily traffic"),
    tuple(
        (name, (f"{r.n_control:,}", "num"), (f"{r.n_total:,}", "num"),
         (f"{r.n_total / daily_units:.1f}", "num"))
        for name, r in (("without CUPED", plain), ("with CUPED", cuped))
    ),
)
''', "nbval-check"),
        md("## Minimum detectable effect by duration"),
        code('''
%matplotlib inline
from matplotlib.figure import Figure

days = list(range(1, 29))
mdes = [mde(var=var, n_control=d * daily_units / 2, target_power=target_power, config=config)
        / baseline_rate for d in days]
mdes_cuped = [mde(var=var, n_control=d * daily_units / 2, target_power=target_power,
                  config=config, variance_reduction=cuped_variance_reduction) / baseline_rate
              for d in days]
fig = Figure(figsize=(8, 3.2), layout="constrained")
ax = fig.add_subplot()
ax.plot(days, mdes, label="without CUPED")
ax.plot(days, mdes_cuped, label="with CUPED")
ax.axhline(relative_mde, color="grey", linestyle="--", label="target MDE")
ax.yaxis.set_major_formatter("{x:.0%}")
ax.set_xlabel("days running")
ax.set_ylabel("relative MDE")
ax.set_title("Detectable lift shrinks with duration", loc="left", fontweight="bold")
ax.legend(frameon=False)
fig
'''),
    ]
    return new_notebook(cells=cells, metadata=_metadata())


def _metadata() -> dict[str, object]:
    return {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                       "name": "python3"},
        "language_info": {"name": "python"},
    }


def main() -> None:
    ROOT.mkdir(exist_ok=True)
    for name, build in (("readout", readout), ("explore", explore), ("planning", planning)):
        nb = build()
        for i, cell in enumerate(nb.cells):
            cell["id"] = f"{name}-{i:02d}"  # stable ids: reviewable diffs
        nbformat.validate(nb)
        nbformat.write(nb, str(ROOT / f"{name}.ipynb"))
        print(f"wrote notebooks/{name}.ipynb ({len(nb.cells)} cells)")


if __name__ == "__main__":
    main()
