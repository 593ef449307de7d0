"""Benchmark of abwb.stats: frequentist readout from sufficient statistics and PyMC models.

Run: .venv/bin/python benchmarks/bench_stats.py  (prints figures, asserts nothing)
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from abwb.stats import AnalysisConfig, MeanStats, RatioStats, analyze


def _readout_inputs(rng: np.random.Generator) -> tuple[dict, dict]:
    stats: dict[str, dict[str, MeanStats | RatioStats]] = {}
    kinds: dict[str, str] = {}
    variants = ["control", "b", "c"]
    for m in range(20):
        kind = ["binomial", "mean", "ratio", "cuped"][m % 4]  # "cuped": a mean with a covariate
        kinds[f"metric_{m}"] = "mean" if kind == "cuped" else kind
        by_variant: dict[str, MeanStats | RatioStats] = {}
        for v in variants:
            n = 50_000
            if kind == "binomial":
                by_variant[v] = MeanStats.from_counts(int(rng.binomial(n, 0.1)), n)
            elif kind == "ratio":
                num, den = rng.gamma(2.0, 1.0, 2000), 1.0 + rng.poisson(2.0, 2000)
                by_variant[v] = RatioStats.from_values(num, den)
            else:
                x = rng.normal(10, 3, 2000)
                y = 0.5 * x + rng.normal(10, 3, 2000)
                by_variant[v] = MeanStats.from_values(y, x=x if kind == "cuped" else None)
        stats[f"metric_{m}"] = by_variant
    return stats, kinds


def bench_frequentist(repeats: int = 50) -> None:
    stats, kinds = _readout_inputs(np.random.default_rng(0))
    config = AnalysisConfig(correction="holm")
    analyze(stats, control="control", kinds=kinds, config=config)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        table = analyze(stats, control="control", kinds=kinds, config=config)
        times.append((time.perf_counter() - t0) * 1e3)
    print(f"frequentist analyze: 20 metrics x 3 variants ({len(table)} comparisons, Holm): "
          f"median {statistics.median(times):.2f} ms over {repeats} repeats "
          f"(min {min(times):.2f} ms)")


def bench_models() -> None:
    try:
        import pymc  # noqa: F401
    except ImportError:
        print("PyMC not installed: model benchmarks skipped")
        return
    from abwb.stats.models import SamplingConfig, clear_model_cache, fit_hierarchical

    groups = {f"v{i}": MeanStats.from_counts(k, 5000)
              for i, k in enumerate([500, 510, 495, 530, 480, 520, 505, 515])}
    for sampler in ("nutpie", "pymc"):
        cfg = SamplingConfig(draws=1000, tune=1000, chains=2, seed=0, sampler=sampler)
        clear_model_cache()
        t0 = time.perf_counter()
        first = fit_hierarchical(groups, control="v0", sampling=cfg)
        total_first = time.perf_counter() - t0
        t0 = time.perf_counter()
        second = fit_hierarchical(groups, control="v0", sampling=cfg)
        total_second = time.perf_counter() - t0
        print(f"hierarchical binomial, 8 variants, {sampler:6s}: compile "
              f"{first.compile_s:5.2f} s, sample {first.sample_s:5.2f} s "
              f"(first call total {total_first:5.2f} s); cached call: sample "
              f"{second.sample_s:5.2f} s, total {total_second:5.2f} s; status {second.status}, "
              f"r-hat {second.diagnostics.max_rhat:.4f}, ESS {second.diagnostics.min_ess_bulk:.0f}")
    from abwb.stats.models import fit_revenue_hurdle

    rng = np.random.default_rng(1)
    values = {v: (rng.random(100_000) < 0.1) * rng.lognormal(3.0, 1.2, 100_000)
              for v in ("control", "b")}
    for sampler in ("nutpie", "pymc"):
        cfg = SamplingConfig(draws=1000, tune=1000, chains=2, seed=0, sampler=sampler)
        clear_model_cache()
        r = fit_revenue_hurdle(values, control="control", sampling=cfg)
        r2 = fit_revenue_hurdle(values, control="control", sampling=cfg)
        print(f"hurdle log-normal, 2 x 100k units, {sampler:6s}: compile {r.compile_s:5.2f} s, "
              f"sample {r.sample_s:5.2f} s; cached call sample {r2.sample_s:5.2f} s; "
              f"status {r2.status}")


if __name__ == "__main__":
    t0 = time.perf_counter()
    import pymc  # noqa: F401

    print(f"import pymc: {time.perf_counter() - t0:.2f} s")
    bench_frequentist()
    bench_models()
