"""Seeded simulations of the guardrail check looked at every "minute".

Streams are built from sufficient statistics per minute (binomial conversions drawn
per arm, vectorised over runs), then every look goes through ``check_guardrails``
exactly as the monitoring job calls it.
"""

from __future__ import annotations

import numpy as np

from abwb.config.metric import MetricDefinition
from abwb.monitoring.checks import SubjectRef, check_guardrails
from abwb.monitoring.config import MonitorConfig
from abwb.stats.config import AnalysisConfig
from abwb.stats.frequentist import welch_ttest
from abwb.stats.summary import MeanStats

RUNS, LOOKS, UNITS_PER_ARM_PER_MIN = 200, 30, 300
GUARDRAILS = [MetricDefinition(key="conv", kind="binomial", event="buy"),
              MetricDefinition(key="retained", kind="binomial", event="return")]
BASE = {"conv": 0.30, "retained": 0.60}
CONFIG = MonitorConfig(planned_n=2 * LOOKS * UNITS_PER_ARM_PER_MIN)
REF = SubjectRef("experiment", "sim")


def _cumulative(rng: np.random.Generator, rate: dict[str, dict[str, float]]) -> dict[str, dict[str, np.ndarray]]:
    """metric -> arm -> (runs, looks, 2) cumulative (n, conversions)."""
    n = rng.poisson(UNITS_PER_ARM_PER_MIN, size=(2, RUNS, LOOKS))
    out: dict[str, dict[str, np.ndarray]] = {}
    for key in BASE:
        out[key] = {}
        for a, arm in enumerate(("c", "t")):
            conv = rng.binomial(n[a], rate[arm][key])
            out[key][arm] = np.stack([n[a].cumsum(axis=1), conv.cumsum(axis=1)], axis=-1)
    return out


def _first_alert_look(data: dict[str, dict[str, np.ndarray]], run: int) -> int | None:
    for look in range(LOOKS):
        stats = {k: {arm: MeanStats.from_counts(int(v[arm][run, look, 1]), int(v[arm][run, look, 0]))
                     for arm in ("c", "t")} for k, v in data.items()}
        if any(f.firing for f in check_guardrails(REF, GUARDRAILS, stats, control="c", treatments=["t"], config=CONFIG)):
            return look
    return None


def test_aa_stream_rarely_alerts_despite_a_look_every_minute() -> None:
    rng = np.random.default_rng(20260601)
    data = _cumulative(rng, {"c": BASE, "t": BASE})
    alerted = sum(_first_alert_look(data, run) is not None for run in range(RUNS))
    # Naive peeking with the fixed-horizon one-sided test at the same per-metric alpha, for contrast.
    naive = 0
    for run in range(RUNS):
        for look in range(LOOKS):
            hit = False
            for v in data.values():
                c = MeanStats.from_counts(int(v["c"][run, look, 1]), int(v["c"][run, look, 0]))
                t = MeanStats.from_counts(int(v["t"][run, look, 1]), int(v["t"][run, look, 0]))
                r = welch_ttest(c, t, config=AnalysisConfig(alpha=0.025, alternative="less"))
                hit = hit or r.p_value < 0.025
            if hit:
                naive += 1
                break
    rate = alerted / RUNS
    print(f"\nA/A: {alerted}/{RUNS} runs raised a guardrail alert over {LOOKS} looks "
          f"(false-alert rate {rate:.1%}); naive fixed-horizon peeking: {naive / RUNS:.1%}")
    assert rate <= 0.05
    assert naive > alerted


def test_injected_10pct_regression_is_detected_within_the_stream() -> None:
    rng = np.random.default_rng(7)
    worse = {"conv": BASE["conv"] * 0.9, "retained": BASE["retained"]}
    data = _cumulative(rng, {"c": BASE, "t": worse})
    delays = [_first_alert_look(data, run) for run in range(RUNS)]
    found = sorted(d + 1 for d in delays if d is not None)
    power = len(found) / RUNS
    print(f"\n10% regression on conv (0.30 -> 0.27, {UNITS_PER_ARM_PER_MIN} units/arm/min): detected in "
          f"{power:.1%} of {RUNS} runs within {LOOKS} min; median delay {np.median(found):.0f} min, "
          f"90th percentile {np.percentile(found, 90):.0f} min")
    assert power >= 0.9
