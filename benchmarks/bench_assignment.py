"""Assignment speed: µs per decision and bulk throughput. Prints figures; asserts nothing.

Run: ./run bench assignment      (or .venv/bin/python benchmarks/bench_assignment.py [--ids N])
     ./run bench assignment --profile    cProfile of the 200-experiment request (see
                                         docs/assignment.md, "Profiling the engine")
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from bisect import bisect_right
from datetime import UTC, datetime
from hashlib import sha256

import polars as pl

from abwb.assignment import Assigner, bucket
from abwb.bulk import assign_frame
from abwb.config import ConfigBundle, Experiment, Variant

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CONDITION = {
    "all": [
        {"attr": "country", "op": "in", "value": ["US", "CA", "DE"]},
        {"attr": "app.version", "op": "semver_gte", "value": "4.2.0"},
        {"attr": "plan", "op": "ne", "value": "enterprise"},
    ]
}


def experiments(n: int, *, targeted: bool) -> list[Experiment]:
    return [
        Experiment(
            key=f"exp-{i}",
            status="running",
            traffic_fraction=0.8,
            targeting=CONDITION if targeted else None,
            variants=[
                Variant(key="control", weight=0.5, is_control=True),
                Variant(key="treatment", weight=0.5, payload={"i": i}),
            ],
        )
        for i in range(n)
    ]


def compiler():  # the real targeting engine when installed, else an equivalent predicate
    try:
        from abwb.targeting import compile_condition
    except ImportError:

        def compile_stand_in(condition: object):
            def predicate(attrs: dict) -> tuple[bool, str]:
                ok = (
                    attrs.get("country") in ("US", "CA", "DE")
                    and tuple(map(int, attrs["app"]["version"].split("."))) >= (4, 2, 0)
                    and attrs.get("plan") != "enterprise"
                )
                return ok, "" if ok else "no match"

            return predicate

        return compile_stand_in, "injected predicate"
    return compile_condition, "abwb.targeting"


def per_decision(n_exp: int, targeted: bool, compile_fn) -> tuple[float, float]:
    assigner = Assigner(
        ConfigBundle(experiments=experiments(n_exp, targeted=targeted)),
        compile_condition=compile_fn,
    )
    attrs = {"country": "US", "plan": "pro", "app": {"version": "4.3.1"}}
    units = [f"user-{i}" for i in range(max(200, 20_000 // n_exp))]
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        for u in units:
            assigner.assign(u, now=NOW, attributes=attrs)
        runs.append((time.perf_counter() - t) / len(units))
    per_request = statistics.median(runs)
    return per_request * 1e6, per_request / n_exp * 1e6


ATTRS = {"country": "US", "plan": "pro", "app": {"version": "4.3.1"}}


def floor_per_request(n_exp: int) -> float:
    """µs per request of a hand-rolled engine: the same checks and hashes, nothing else."""
    countries = frozenset(("US", "CA", "DE"))
    prefixes = [(f"exp-{i}/p1/traffic:".encode(), f"exp-{i}/p1/variant:".encode())
                for i in range(n_exp)]
    starts, names = (0, 5000), ("control", "treatment")

    def decide_all(unit: str, attrs: dict) -> list[str | None]:
        uid = unit.encode()
        version = attrs.get("app", {}).get("version")
        targeted = (attrs.get("country") in countries and version is not None
                    and tuple(map(int, version.split("."))) >= (4, 2, 0)
                    and attrs.get("plan") != "enterprise")  # once: the condition is shared
        out: list[str | None] = []
        for traffic, variant in prefixes:
            if not targeted or int.from_bytes(sha256(traffic + uid).digest()[:8]) % 10000 >= 8000:
                out.append(None)
                continue
            b = int.from_bytes(sha256(variant + uid).digest()[:8]) % 10000
            out.append(names[bisect_right(starts, b) - 1])
        return out

    units = [f"user-{i}" for i in range(max(200, 20_000 // n_exp))]
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        for u in units:
            decide_all(u, ATTRS)
        runs.append((time.perf_counter() - t) / len(units))
    return statistics.median(runs) * 1e6


def profile(compile_fn) -> None:
    assigner = Assigner(ConfigBundle(experiments=experiments(200, targeted=True)),
                        compile_condition=compile_fn)
    units = [f"user-{i}" for i in range(500)]
    profiler = cProfile.Profile()
    profiler.enable()
    for u in units:
        assigner.assign(u, now=NOW, attributes=ATTRS)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ids", type=int, default=10_000_000, help="ids for the bulk comparison")
    parser.add_argument("--profile", action="store_true", help="cProfile the 200-experiment request")
    args = parser.parse_args()
    compile_fn, source = compiler()
    if args.profile:
        profile(compile_fn)
        return
    print(f"== assign(): one unit, all running experiments (targeting: {source})")
    print(f"{'experiments':>11} {'conditions':>10} {'µs/request':>11} {'µs/decision':>12}")
    for n in (1, 20, 200):
        for targeted in (False, True):
            req, dec = per_decision(n, targeted, compile_fn)
            print(f"{n:>11} {3 if targeted else 0:>10} {req:>11.1f} {dec:>12.2f}")
    for n in (1, 200):
        engine, _ = per_decision(n, True, compile_fn)
        floor = floor_per_request(n)
        print(f"hand-rolled floor, {n} experiment(s) x 3 conditions: {floor:.1f} µs/request; "
              f"engine {engine:.1f} µs = {engine / floor:.2f}x the floor")

    n = args.ids
    ids = [f"user-{i}" for i in range(n)]
    scalar_n = min(n, 2_000_000)
    t = time.perf_counter()
    for u in ids[:scalar_n]:
        bucket("bench/p1/variant", u)
    scalar = scalar_n / (time.perf_counter() - t)
    exp = experiments(1, targeted=False)[0]
    assigner = Assigner(ConfigBundle(experiments=[exp]))
    frame = pl.DataFrame({"unit_id": ids})
    del ids
    t, cpu = time.perf_counter(), time.process_time()
    out = assign_frame(assigner, frame, exp.key, now=NOW)
    bulk_s, bulk_cpu = time.perf_counter() - t, time.process_time() - cpu
    t = time.perf_counter()
    for u in frame["unit_id"].head(200_000):
        assigner.decide(exp.key, u, now=NOW)
    scalar_decide = 200_000 / (time.perf_counter() - t)
    print(f"\n== bulk over {n:,} ids")
    print(f"scalar bucket():          {scalar / 1e6:6.2f} M ids/s  (measured on {scalar_n:,})")
    print(f"scalar decide():          {scalar_decide / 1e6:6.2f} M ids/s  (measured on 200,000)")
    print(
        f"vectorised assign_frame: {n / bulk_s / 1e6:.2f} M ids/s  ({bulk_s:.2f} s for {n:,}, "
        f"{bulk_cpu:.2f} CPU-s on all threads, {out['variant'].null_count():,} outside traffic)"
    )


if __name__ == "__main__":
    main()
