"""Bayesian models: how often the diagnostics gate passes across seeds, and how long a fit takes.

The issue's spec (issue 15): at the library defaults (``SamplingConfig()``: 4 chains,
2,000 draws, 1,000 tune), over 20 seeds, fit

- the binomial hierarchical model on six groups of n = 2,000 with 200, 205, 195, 210,
  190 and 240 conversions, and
- the mean hierarchical model on five groups of 1,500 draws from N(10 + 0.05 i, 3)
  (exact quadrature by default; ``--mean-engine mcmc`` for the PyMC path),

and print, per model, how many seeds pass the gate, the worst r-hat / ESS seen and the
median fit time. Prints figures; asserts nothing.

Run: .venv/bin/python benchmarks/bench_models.py [--seeds 20] [--mean-engine exact|mcmc]
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import time

import numpy as np

from abwb.stats import MeanStats
from abwb.stats.models import SamplingConfig, fit_hierarchical


def binomial_groups() -> dict[str, MeanStats]:
    return {f"v{i}": MeanStats.from_counts(k, 2000)
            for i, k in enumerate([200, 205, 195, 210, 190, 240])}


def mean_groups() -> dict[str, MeanStats]:
    rng = np.random.default_rng(41)
    return {f"s{i}": MeanStats.from_values(rng.normal(10 + 0.05 * i, 3, 1500)) for i in range(5)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--mean-engine", default="exact", choices=["exact", "mcmc"])
    ap.add_argument("--only", default="", choices=["", "proportion", "mean"])
    args = ap.parse_args()
    has_engine = "engine" in inspect.signature(fit_hierarchical).parameters
    cases = [("proportion", "v0", binomial_groups()), ("mean", "s0", mean_groups())]
    for kind, control, groups in cases:
        if args.only and kind != args.only:
            continue
        extra = {"engine": args.mean_engine} if kind == "mean" and has_engine else {}
        fit_hierarchical(groups, control=control, kind=kind,  # type: ignore[arg-type]
                         sampling=SamplingConfig(seed=999), **extra)  # compile once
        passed, rhats, esss, times, divs = 0, [], [], [], 0
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            r = fit_hierarchical(groups, control=control, kind=kind,  # type: ignore[arg-type]
                                 sampling=SamplingConfig(seed=seed), **extra)
            times.append(time.perf_counter() - t0)
            passed += r.status == "ok"
            rhats.append(r.diagnostics.max_rhat)
            esss.append(r.diagnostics.min_ess_bulk)
            divs += r.diagnostics.divergences
            print(f"  {kind} seed {seed:2d}: {r.status:18s} rhat {r.diagnostics.max_rhat:.3f} "
                  f"ess {r.diagnostics.min_ess_bulk:7.0f} div {r.diagnostics.divergences} "
                  f"{times[-1]:.2f} s", flush=True)
        label = f"{kind} ({r.sampler}, {r.method})"
        print(f"{label}: {passed}/{args.seeds} seeds pass the gate; worst r-hat "
              f"{max(rhats):.3f}, worst bulk ESS {min(esss):.0f}, divergences {divs}; "
              f"median fit {statistics.median(times):.2f} s, max {max(times):.2f} s", flush=True)


if __name__ == "__main__":
    main()
