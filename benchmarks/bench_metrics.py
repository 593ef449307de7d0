"""Metric pipeline throughput: sufficient statistics for 5 metrics (one ratio, one CUPED).

Data: simulated (abwb.simulate) exposures and events written to Parquet once; each
engine then runs in its own subprocess (read Parquet into polars, run, report) so
that peak RSS (resource.getrusage max RSS) is per engine. Baseline: a hand-written
polars pipeline computing one metric (Σ value per unit, no windows, no capping).

Usage: .venv/bin/python benchmarks/bench_metrics.py [--units 1000000] [--repeat 3]
(~10 events per unit; --units 1000000 gives ~10 M events.) The timer starts after the
imports (``abwb.metrics`` pulls in scipy, ~1 s, reported separately as "import s"), and
``--repeat N`` runs each engine N times in fresh subprocesses and reports the median
(the max for RSS): on a shared machine single runs are noisy.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

DAY = 86_400.0


def metrics():  # type: ignore[no-untyped-def]
    from abwb.config import Capping, MetricDefinition
    return [
        MetricDefinition(key="conv", kind="binomial", event="purchase", window_end_s=7 * DAY),
        MetricDefinition(key="rev", kind="sum", event="purchase", value_column="value",
                         capping=Capping(percentile=0.99)),
        MetricDefinition(key="sessions", kind="count", event="session"),
        MetricDefinition(key="rps", kind="ratio", numerator_event="purchase",
                         numerator_value_column="value", denominator_event="session"),
        MetricDefinition(key="eng", kind="sum", event="engagement", value_column="value",
                         cuped_window_s=14 * DAY),
    ]


def generate(units: int, folder: Path) -> tuple[int, int, float]:
    from abwb.config import Experiment, Variant
    from abwb.simulate import ConversionStream, GaussianStream, SimulationConfig, simulate
    exp = Experiment(key="bench", status="running", variants=[
        Variant("control", 0.5, is_control=True), Variant("treatment", 0.5)])
    cfg = SimulationConfig(users=units, start_at=datetime(2026, 1, 1, tzinfo=UTC), seed=1, streams=(
        ConversionStream("purchase", rate=0.2, events_per_conversion=2.0, value_log_mean=3.0,
                         lift={"treatment": 0.05}),
        ConversionStream("session", rate=0.95, events_per_conversion=7.0),
        GaussianStream("engagement", mean=10, sd=3, rho=0.7),
    ))
    t = time.perf_counter()
    sim = simulate(exp, cfg)
    elapsed = time.perf_counter() - t
    sim.exposures.write_parquet(folder / "exposures.parquet")
    sim.events.write_parquet(folder / "events.parquet")
    return sim.exposures.height, sim.events.height, elapsed


def run_child(engine: str, folder: Path) -> None:
    import polars as pl
    exposures = pl.read_parquet(folder / "exposures.parquet")
    events = pl.read_parquet(folder / "events.parquet")
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    if engine != "baseline":
        # Imported outside the timed section: module import (scipy via abwb.stats, ~1 s)
        # is not pipeline work, and the baseline pays none of it.
        from abwb.metrics import compute_statistics
    import_s = time.perf_counter() - t
    t = time.perf_counter()
    if engine == "baseline":
        first = exposures.group_by("unit_id").agg(pl.col("variant").first())
        per_unit = (events.filter(pl.col("name") == "purchase").group_by("unit_id")
                    .agg(pl.col("value").sum().alias("y")))
        stats = (first.join(per_unit, on="unit_id", how="left").with_columns(pl.col("y").fill_null(0))
                 .group_by("variant").agg(pl.len(), pl.col("y").sum().alias("total"), (pl.col("y") ** 2).sum().alias("total_sq")))
        assert stats.height == 2
    else:
        r = compute_statistics(exposures, events, metrics(), experiment="bench", engine=engine)  # type: ignore[arg-type]
        assert r["conv"]["control"].n > 0
    elapsed = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": elapsed, "peak_rss_mb": peak / 1024,
                      "input_rss_mb": base_rss / 1024, "import_seconds": import_s}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per engine (fresh subprocess each); the median is reported")
    parser.add_argument("--child", choices=["duckdb", "polars", "baseline"])
    parser.add_argument("--folder", type=Path)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.folder)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        n_exp, n_ev, sim_s = generate(args.units, folder)
        print(f"data: {n_exp:,} exposed units, {n_ev:,} events (simulated in {sim_s:.1f} s)")
        results = {}
        runs: dict[str, list[float]] = {}
        for _ in range(max(1, args.repeat)):
            for engine in ("baseline", "duckdb", "polars"):  # interleaved: noise hits all
                out = subprocess.run(
                    [sys.executable, __file__, "--child", engine, "--folder", str(folder)],
                    capture_output=True, text=True, check=False)
                if out.returncode:
                    raise SystemExit(f"{engine} failed:\n{out.stderr}")
                r = json.loads(out.stdout.strip().splitlines()[-1])
                runs.setdefault(engine, []).append(r["seconds"])
                prev = results.get(engine, r)
                results[engine] = {**r, "peak_rss_mb": max(r["peak_rss_mb"], prev["peak_rss_mb"])}
        for engine, secs in runs.items():
            results[engine]["seconds"] = statistics.median(secs)
        base = results["baseline"]
        print(f"{'engine':<10} {'seconds':>8} {'peak RSS MB':>12} {'after load MB':>14} "
              f"{'time × base':>12} {'import s':>9}  runs")
        for engine, r in results.items():
            print(f"{engine:<10} {r['seconds']:8.2f} {r['peak_rss_mb']:12.0f} {r['input_rss_mb']:14.0f} "
                  f"{r['seconds'] / base['seconds']:12.2f} {r['import_seconds']:9.2f}  "
                  + " ".join(f"{x:.2f}" for x in runs[engine]))
        print("baseline = hand-written polars, 1 metric, no windows; engines = 5 metrics "
              "(binomial 7-day window, sum with p99 cap, count, ratio, CUPED sum) + data quality")


if __name__ == "__main__":
    main()
