"""The readout and the monitor agree: same interval and same guardrail verdict for the same data.

Per metric kind × engine (binomial, mean, ratio, CUPED × frequentist, sequential, Bayesian),
the monitor's guardrail check and the readout's analysis are given the same statistics and
the same level (one guardrail × one treatment, so the monitor's Bonferroni share is the
whole budget; the readout's config is the monitor's: one-sided in the harmful direction,
no correction). Both must pick the same method from the registry, report the same interval,
and reach the same verdict: the monitor fires exactly when the readout's ship rule calls
the guardrail harmed and decides ``do_not_ship``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
import pytest

from abwb.config.metric import MetricDefinition
from abwb.monitoring.alerts import Finding
from abwb.monitoring.checks import SubjectRef, check_guardrails
from abwb.monitoring.config import MonitorConfig
from abwb.readout.analysis import MetricData, analyse_metrics, results_frame
from abwb.readout.model import QualityCheck, ReadoutQuality
from abwb.readout.recommendation import recommend
from abwb.stats.config import AnalysisConfig
from abwb.stats.methods import Engine
from abwb.stats.summary import MeanStats, RatioStats

ALPHA = 0.05
PLANNED_N = 20_000
ENGINES: tuple[Engine, ...] = ("frequentist", "sequential", "bayesian")
KINDS = ("binomial", "mean", "ratio", "cuped")
Stats = MeanStats | RatioStats


def _definition(kind: str) -> MetricDefinition:
    if kind == "ratio":
        return MetricDefinition(key="g", kind="ratio", numerator_event="buy",
                                denominator_event="visit", direction="increase")
    if kind == "binomial":
        return MetricDefinition(key="g", kind="binomial", event="buy", direction="increase")
    return MetricDefinition(key="g", kind="mean", event="buy", value_column="value",
                            direction="increase",
                            cuped_window_s=86_400.0 if kind == "cuped" else None)


def _arms(kind: str, lift: float, seed: int) -> tuple[Stats, Stats]:
    """Control and treatment statistics; ``lift`` is the treatment's relative change."""
    rng = np.random.default_rng(seed)
    n = 5_000
    if kind == "binomial":
        return (MeanStats.from_counts(int(0.2 * n), n),
                MeanStats.from_counts(int(0.2 * (1 + lift) * n), n))
    if kind == "ratio":
        def ratio(scale: float) -> RatioStats:
            den = 1.0 + rng.poisson(2.0, n)
            return RatioStats.from_values(scale * den * rng.gamma(4.0, 0.5, n), den)
        return ratio(1.0), ratio(1.0 + lift)

    def mean(scale: float) -> MeanStats:
        x = rng.normal(10.0, 3.0, n)
        y = scale * (0.8 * x + rng.normal(2.0, 1.5, n))
        return MeanStats.from_values(y, x=x if kind == "cuped" else None)
    return mean(1.0), mean(1.0 + lift)


def _both(kind: str, engine: Engine, control: Stats, treatment: Stats
          ) -> tuple[dict[str, Any], Finding | None]:
    definition = _definition(kind)
    stats = {"control": control, "b": treatment}
    config = MonitorConfig(engine=engine, alpha_guardrail=ALPHA, planned_n=PLANNED_N,
                           min_units_per_arm=1)
    findings = check_guardrails(SubjectRef("experiment", "e"), [definition], {"g": stats},
                                control="control", treatments=["b"], config=config)
    metrics = [MetricData(definition, "guardrail", stats)]
    table = analyse_metrics(metrics, control="control", variants=["b"], engine=engine,
                            config=AnalysisConfig(alpha=ALPHA, alternative="less",
                                                  correction="none"),
                            planned_n=PLANNED_N)
    frame = results_frame(table, metrics)
    row = frame.row(0, named=True)
    primary = MetricDefinition(key="p", kind="binomial", event="buy")
    primary_stats = {"control": MeanStats.from_counts(1000, 5000),
                     "b": MeanStats.from_counts(1000, 5000)}
    everything = [MetricData(primary, "primary", primary_stats), *metrics]
    full = analyse_metrics(everything, control="control", variants=["b"], engine=engine,
                           config=AnalysisConfig(alpha=ALPHA, alternative="less",
                                                 correction="none"),
                           planned_n=PLANNED_N)
    quality = ReadoutQuality((QualityCheck("sample ratio", True, "ok"),), pl.DataFrame(), 0.5)
    decision = recommend(full, results_frame(full, everything), everything, quality)
    row["decision"] = decision.action
    return row, findings[0] if findings else None


def _same(a: float | None, b: float) -> bool:
    if a is None:  # evidence stores non-finite numbers as None
        return not math.isfinite(b)
    return a == pytest.approx(b, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("lift", "harmed"), [(-0.15, True), (0.0, False)])
def test_readout_and_monitor_agree(kind: str, engine: Engine, lift: float,
                                   harmed: bool) -> None:
    control, treatment = _arms(kind, lift, seed=7)
    row, finding = _both(kind, engine, control, treatment)
    assert finding is not None
    assert finding.evidence.method == row["method"]
    assert _same(finding.evidence.ci_low_rel, row["ci_low_rel"])
    assert _same(finding.evidence.ci_high_rel, row["ci_high_rel"])
    assert finding.evidence.effect_rel == pytest.approx(row["effect_rel"], rel=1e-12)
    assert finding.firing is harmed
    assert (row["guardrail_status"] == "harmed") is harmed
    assert (row["decision"] == "do_not_ship") is harmed


@pytest.mark.parametrize("engine", ENGINES)
def test_the_methods_are_the_registrys(engine: Engine) -> None:
    expected = {
        "frequentist": {"binomial": "two_proportion_z", "mean": "welch_t",
                        "ratio": "delta_ratio_z", "cuped": "cuped_welch_t"},
        "sequential": {"binomial": "asymptotic_cs", "mean": "asymptotic_cs",
                       "ratio": "asymptotic_cs_ratio", "cuped": "asymptotic_cs_cuped"},
        "bayesian": {"binomial": "beta_binomial", "mean": "normal_approx",
                     "ratio": "delta_ratio_z", "cuped": "normal_approx"},
    }[engine]
    for kind in KINDS:
        row, finding = _both(kind, engine, *_arms(kind, -0.15, seed=3))
        assert row["method"] == expected[kind]
        assert finding is not None and finding.evidence.method == expected[kind]


@pytest.mark.parametrize("engine", ENGINES)
def test_an_undefined_interval_is_not_harm_in_either(engine: Engine) -> None:
    # A zero control mean leaves the relative interval undefined (NaN): harm is not
    # established, so the monitor stays silent and the readout does not say harmed.
    control = MeanStats(n=5000, total=0.0, total_sq=0.0)
    treatment = MeanStats(n=5000, total=-50.0, total_sq=50.0)
    row, finding = _both("mean", engine, control, treatment)
    assert finding is None or not finding.firing
    assert row["guardrail_status"] != "harmed"
    assert row["decision"] != "do_not_ship"
