"""Assignment speed: µs per decision and bulk throughput. Prints figures; asserts nothing.

Run: ./run bench assignment      (or .venv/bin/python benchmarks/bench_assignment.py [--ids N])
     ./run bench assignment --profile    cProfile of the 200-experiment request (see
                                         docs/assignment.md, "Profiling the engine")

Every figure is a median of repeated runs, printed as wall time and as CPU time of
this process (on a shared machine wall time includes waiting for a core; CPU time
does not). The bulk CPU time counts every polars thread and every kernel thread.

The hashing backend in use is printed first (``abwb.assignment.hashing.BACKEND``); the
200-experiment request and assign_frame are also measured on the fallback (hashlib /
polars-hash, ``native=False``) in the same run, so before/after come from one command.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from bisect import bisect_right
from collections.abc import Callable
from datetime import UTC, datetime
from hashlib import sha256
from struct import Struct

import duckdb
import msgspec
import polars as pl

from abwb.assignment import DUCKDB_BUCKET_MACRO, Assigner, bucket
from abwb.assignment.hashing import BACKEND
from abwb.bulk import assign_frame, bucket_series
from abwb.config import ConfigBundle, Experiment, Variant

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CONDITION = {
    "all": [
        {"attr": "country", "op": "in", "value": ["US", "CA", "DE"]},
        {"attr": "app.version", "op": "semver_gte", "value": "4.2.0"},
        {"attr": "plan", "op": "ne", "value": "enterprise"},
    ]
}


def distinct_condition(i: int) -> dict:
    """Three conditions like CONDITION, different for each experiment (no sharing)."""
    return {
        "all": [
            {"attr": "country", "op": "in", "value": ["US", "CA", "DE", f"X{i}"]},
            {"attr": "app.version", "op": "semver_gte", "value": f"4.{i % 3}.{i}"},
            {"attr": "plan", "op": "ne", "value": f"enterprise-{i}"},
        ]
    }


def experiments(n: int, *, targeted: bool, distinct: bool = False) -> list[Experiment]:
    return [
        Experiment(
            key=f"exp-{i}",
            status="running",
            traffic_fraction=0.8,
            targeting=(distinct_condition(i) if distinct else CONDITION) if targeted else None,
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


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds (this process, all threads) of ``fn``."""
    walls, cpus = [], []
    for _ in range(repeat):
        t, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def per_request(
    n_exp: int, targeted: bool, compile_fn, *, distinct: bool = False, native: bool = True
) -> tuple[float, float]:
    """(wall µs, CPU µs) per ``assign`` of one unit to ``n_exp`` experiments."""
    assigner = Assigner(
        ConfigBundle(experiments=experiments(n_exp, targeted=targeted, distinct=distinct)),
        compile_condition=compile_fn,
        native=native,
    )
    units = [f"user-{i}" for i in range(max(200, 20_000 // n_exp))]

    def run() -> None:
        for u in units:
            assigner.assign(u, now=NOW, attributes=ATTRS)

    wall, cpu = timed(run, 5)
    return wall / len(units) * 1e6, cpu / len(units) * 1e6


ATTRS = {"country": "US", "plan": "pro", "app": {"version": "4.3.1"}}
_UINT64_BE = Struct(">Q").unpack_from


def floor_per_request(n_exp: int) -> tuple[float, float]:
    """(wall µs, CPU µs) per request of a hand-rolled engine: the same checks and hashes.

    It hashes the way the engine does (a SHA-256 state per salt, copied per unit: the
    cheapest SHA-256 call in Python) and does nothing else.
    """
    countries = frozenset(("US", "CA", "DE"))
    states = [(sha256(f"exp-{i}/p1/traffic:".encode()), sha256(f"exp-{i}/p1/variant:".encode()))
              for i in range(n_exp)]
    starts, names = (0, 5000), ("control", "treatment")

    def decide_all(unit: str, attrs: dict) -> list[str | None]:
        uid = unit.encode()
        version = attrs.get("app", {}).get("version")
        targeted = (attrs.get("country") in countries and version is not None
                    and tuple(map(int, version.split("."))) >= (4, 2, 0)
                    and attrs.get("plan") != "enterprise")  # once: the condition is shared
        out: list[str | None] = []
        for traffic, variant in states:
            h = traffic.copy()
            h.update(uid)
            if not targeted or _UINT64_BE(h.digest())[0] % 10000 >= 8000:
                out.append(None)
                continue
            h = variant.copy()
            h.update(uid)
            out.append(names[bisect_right(starts, _UINT64_BE(h.digest())[0] % 10000) - 1])
        return out

    units = [f"user-{i}" for i in range(max(200, 20_000 // n_exp))]

    def run() -> None:
        for u in units:
            decide_all(u, ATTRS)

    wall, cpu = timed(run, 5)
    return wall / len(units) * 1e6, cpu / len(units) * 1e6


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


def engine(compile_fn, source: str) -> None:
    print(f"== assign(): one unit, all running experiments (targeting: {source}; "
          f"hashing: {BACKEND})")
    print(f"{'experiments':>11} {'conditions':>10} {'µs/request':>11} {'CPU µs/request':>15} "
          f"{'µs/decision':>12}")
    for n in (1, 20, 200):
        for targeted in (False, True):
            wall, cpu = per_request(n, targeted, compile_fn)
            print(f"{n:>11} {3 if targeted else 0:>10} {wall:>11.1f} {cpu:>15.1f} "
                  f"{wall / n:>12.2f}")
    wall, cpu = per_request(200, True, compile_fn, distinct=True)
    print(f"{200:>11} {'3 distinct':>10} {wall:>11.1f} {cpu:>15.1f} {wall / 200:>12.2f}  "
          "(every experiment its own conditions)")
    wall, cpu = per_request(200, True, compile_fn)
    fb_wall, fb_cpu = per_request(200, True, compile_fn, native=False)
    print(f"engine, 200 experiments x 3 conditions: {BACKEND} {wall:.1f} µs/unit ({cpu:.1f} CPU µs); "
          f"hashlib fallback {fb_wall:.1f} µs/unit ({fb_cpu:.1f} CPU µs) = {fb_cpu / cpu:.2f}x "
          "in CPU time")
    for n in (1, 200):
        wall, cpu = per_request(n, True, compile_fn)
        floor_wall, floor_cpu = floor_per_request(n)
        print(f"hand-rolled floor, {n} experiment(s) x 3 conditions: {floor_wall:.1f} µs/request "
              f"({floor_cpu:.1f} CPU µs); engine {wall:.1f} µs ({cpu:.1f} CPU µs) = "
              f"{wall / floor_wall:.2f}x the floor ({cpu / floor_cpu:.2f}x in CPU time)")


def bulk(n: int) -> None:
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
    t = time.perf_counter()
    for u in frame["unit_id"].head(200_000):
        assigner.decide(exp.key, u, now=NOW)
    scalar_decide = 200_000 / (time.perf_counter() - t)
    print(f"\n== bulk over {n:,} ids (medians of 3 runs; {pl.thread_pool_size()} polars threads; "
          f"hashing: {BACKEND})")
    print(f"scalar bucket():          {scalar / 1e6:6.2f} M ids/s  (measured on {scalar_n:,})")
    print(f"scalar decide():          {scalar_decide / 1e6:6.2f} M ids/s  (measured on 200,000)")
    wall, cpu = timed(lambda: assign_frame(assigner, frame, exp.key, now=NOW), 3)
    outside = assign_frame(assigner, frame, exp.key, now=NOW)["variant"].null_count()
    print(f"vectorised assign_frame: {n / wall / 1e6:.2f} M ids/s  ({wall:.2f} s for {n:,}, "
          f"{cpu:.2f} CPU-s on all threads = {n / cpu / 1e6:.2f} M ids per CPU-second; "
          f"traffic 80 %, {outside:,} outside traffic; {BACKEND})")
    fallback = Assigner(ConfigBundle(experiments=[exp]), native=False)
    wall, cpu = timed(lambda: assign_frame(fallback, frame, exp.key, now=NOW), 3)
    print(f"  fallback (polars-hash): {n / wall / 1e6:.2f} M ids/s  ({wall:.2f} s, {cpu:.2f} CPU-s "
          f"= {n / cpu / 1e6:.2f} M ids per CPU-second)")
    full = msgspec.structs.replace(exp, key="full", traffic_fraction=1.0)
    everyone = Assigner(ConfigBundle(experiments=[full]))
    wall, cpu = timed(lambda: assign_frame(everyone, frame, "full", now=NOW), 3)
    print(f"  at 100 % traffic:       {n / wall / 1e6:.2f} M ids/s  ({wall:.2f} s, {cpu:.2f} CPU-s: "
          "no traffic hash)")
    # Where the time goes: one SHA-256 bucket per id, by the kernel and the standard engines.
    units = frame["unit_id"]
    wall, cpu = timed(lambda: bucket_series(units, "bench/p1/variant"), 3)
    print(f"one bucket per id, {BACKEND}: {n / wall / 1e6:.2f} M ids/s  "
          f"({n / cpu / 1e6:.2f} M per CPU-second)")
    wall, cpu = timed(lambda: bucket_series(units, "bench/p1/variant", native=False), 3)
    print(f"one bucket per id, polars-hash: {n / wall / 1e6:.2f} M ids/s  "
          f"({n / cpu / 1e6:.2f} M per CPU-second)")
    sample = units.head(min(n, 2_000_000)).to_frame()
    con = duckdb.connect()
    con.execute(DUCKDB_BUCKET_MACRO)
    con.register("sample", sample)
    query = "select abwb_bucket('bench/p1/variant', unit_id) as bucket from sample"
    wall, cpu = timed(lambda: con.sql(query).pl(), 3)
    print(f"one bucket per id, DuckDB sha256: {sample.height / wall / 1e6:.2f} M ids/s  "
          f"({sample.height / cpu / 1e6:.2f} M per CPU-second, {sample.height:,} ids)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ids", type=int, default=10_000_000, help="ids for the bulk comparison")
    parser.add_argument("--profile", action="store_true", help="cProfile the 200-experiment request")
    parser.add_argument("--only", choices=("engine", "bulk"), help="run one half")
    args = parser.parse_args()
    compile_fn, source = compiler()
    if args.profile:
        profile(compile_fn)
        return
    if args.only != "bulk":
        engine(compile_fn, source)
    if args.only != "engine":
        bulk(args.ids)


if __name__ == "__main__":
    main()
