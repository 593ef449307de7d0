"""Flag evaluation cost: µs per evaluation by flag shape, and per evaluate_all over 50 flags.

Run: .venv/bin/python benchmarks/bench_flags.py
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from abwb.assignment import Assigner
from abwb.config import (
    ConfigBundle,
    Experiment,
    Flag,
    FlagRule,
    Rollout,
    RolloutStep,
    SplitShare,
    Variant,
)
from abwb.flags import FlagEvaluator

NOW = datetime(2026, 3, 1, tzinfo=UTC)
ONOFF = {"on": True, "off": False}
N = 20_000


def flags() -> list[Flag]:
    three = {"all": [{"attr": "country", "op": "in", "value": ["US", "CA", "DE"]},
                     {"attr": "plan", "op": "eq", "value": "pro"},
                     {"attr": "app.version", "op": "semver_gte", "value": "4.2.0"}]}
    return [
        Flag(key="simple", type="bool", variations=ONOFF, default_variation="on", off_variation="off"),
        Flag(key="rules3", type="bool", variations=ONOFF, default_variation="off", off_variation="off",
             rules=[FlagRule(condition=three, variation="on")]),
        Flag(key="split", type="bool", variations=ONOFF, default_variation="off", off_variation="off",
             rules=[FlagRule(split=[SplitShare("on", 0.5), SplitShare("off", 0.5)])]),
        Flag(key="experiment", type="string", variations={"a": "A"}, default_variation="a",
             off_variation="a", rules=[FlagRule(experiment="exp")]),
        Flag(key="rollout", type="bool", variations=ONOFF, default_variation="off", off_variation="off"),
    ]


def bundle(extra: int = 0) -> ConfigBundle:
    exp = Experiment(key="exp", status="running", variants=[
        Variant(key="control", weight=0.5, is_control=True, payload="A"),
        Variant(key="treatment", weight=0.5, payload="B")])
    base = flags()
    shapes = [f for f in base if f.key != "experiment"]
    more = [Flag(key=f"{shapes[i % len(shapes)].key}-{i}", type="bool", variations=ONOFF,
                 default_variation="off", off_variation="off", rules=shapes[i % len(shapes)].rules)
            for i in range(extra)]
    ramp = Rollout(key="ramp", flag_key="rollout", variation="on", status="active",
                   started_at=NOW - timedelta(hours=2),
                   steps=[RolloutStep(traffic_fraction=0.05, hold_s=3600),
                          RolloutStep(traffic_fraction=0.25)])
    return ConfigBundle(experiments=[exp], flags=base + more, rollouts=[ramp], version=1)


def per_call_us(fn: object, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        fn(i)  # type: ignore[operator]
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    b = bundle()
    t0 = time.perf_counter()
    ev = FlagEvaluator(b, Assigner(b))
    print(f"compile 5-flag snapshot: {(time.perf_counter() - t0) * 1e3:.2f} ms")
    attrs = {"country": "US", "plan": "pro", "app": {"version": "4.10.1"}}
    units = [f"user-{i}" for i in range(N)]
    for key in ("simple", "rules3", "split", "experiment", "rollout"):
        us = per_call_us(lambda i, k=key: ev.evaluate(k, units[i], attrs, NOW), N)
        print(f"evaluate {key:<11} {us:7.2f} µs/eval")
    b50 = bundle(extra=45)
    t0 = time.perf_counter()
    ev50 = FlagEvaluator(b50, Assigner(b50))
    print(f"compile 50-flag snapshot: {(time.perf_counter() - t0) * 1e3:.2f} ms")
    n = N // 10
    us = per_call_us(lambda i: ev50.evaluate_all(units[i], attrs, NOW), n)
    print(f"evaluate_all 50 flags  {us:7.1f} µs/unit ({us / 50:.2f} µs/flag)")


if __name__ == "__main__":
    main()
