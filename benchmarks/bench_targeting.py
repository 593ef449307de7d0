"""Targeting speed: µs per rule evaluation (compiled vs a naive JSON-walking interpreter)
and µs per Assigner.assign with 1, 20 and 200 running targeted experiments.
Prints figures; asserts nothing.

Run: .venv/bin/python benchmarks/bench_targeting.py
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from abwb.assignment import Assigner
from abwb.config import ConfigBundle, Experiment, Segment, Variant
from abwb.targeting import compile_condition, parse_semver

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ATTRS = {"country": "US", "plan": "pro", "age": 34, "email": "ann@example.com",
         "app": {"version": "4.3.1"}, "signup": "2025-11-02", "beta": False}

CLAUSES: list[dict[str, Any]] = [
    {"attr": "country", "op": "in", "value": ["US", "CA", "DE", "GB"]},
    {"attr": "app.version", "op": "semver_gte", "value": "4.2.0"},
    {"attr": "plan", "op": "ne", "value": "enterprise"},
    {"attr": "age", "op": "gte", "value": 18},
    {"attr": "email", "op": "ends_with", "value": "@example.com", "ignore_case": True},
    {"attr": "signup", "op": "before", "value": "2026-01-01"},
    {"attr": "beta", "op": "eq", "value": False},
    {"attr": "email", "op": "regex", "value": r"^[a-z]+@"},
    {"attr": "country", "op": "not_in", "value": ["FR", "JP"]},
    {"attr": "age", "op": "lt", "value": 99},
]


def rule(n: int) -> dict[str, Any]:
    return {"all": [CLAUSES[i % len(CLAUSES)] for i in range(n)]} if n > 1 else CLAUSES[0]


# ---- the straightforward interpreter: walks the JSON on every call ---------------------

def naive_get(attrs: Mapping[str, Any], path: str) -> Any:
    if path in attrs:
        return attrs[path]
    node: Any = attrs
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def naive_clause(c: Mapping[str, Any], attrs: Mapping[str, Any]) -> bool:
    v, op, want = naive_get(attrs, c["attr"]), c["op"], c.get("value")
    fold = c.get("ignore_case", False)
    if v is None:
        return op == "not_exists"
    if op == "eq":
        return type(v) is type(want) and v == want
    if op == "ne":
        return type(v) is type(want) and v != want
    if op == "in":
        return isinstance(v, str) and v in want
    if op == "not_in":
        return isinstance(v, str) and v not in want
    if op in ("lt", "lte", "gt", "gte"):
        if not isinstance(v, int | float) or isinstance(v, bool):
            return False
        return {"lt": v < want, "lte": v <= want, "gt": v > want, "gte": v >= want}[op]
    if op.startswith("semver_"):
        a, b = parse_semver.__wrapped__(v), parse_semver.__wrapped__(want)  # no cache: naive
        return a is not None and {"semver_gte": a >= b, "semver_gt": a > b, "semver_lt": a < b,
                                  "semver_lte": a <= b, "semver_eq": a == b}[op]
    if op in ("before", "after"):
        at, ref = datetime.fromisoformat(v), datetime.fromisoformat(want)
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        ref = ref if ref.tzinfo else ref.replace(tzinfo=UTC)
        return at < ref if op == "before" else at > ref
    if op in ("contains", "starts_with", "ends_with"):
        s, w = (v.casefold(), want.casefold()) if fold else (v, want)
        return {"contains": w in s, "starts_with": s.startswith(w), "ends_with": s.endswith(w)}[op]
    if op == "regex":
        return re.search(want, v) is not None
    return op == "exists"


def naive(cond: Mapping[str, Any], attrs: Mapping[str, Any]) -> bool:
    if "all" in cond:
        return all(naive(c, attrs) for c in cond["all"])
    if "any" in cond:
        return any(naive(c, attrs) for c in cond["any"])
    if "not" in cond:
        return not naive(cond["not"], attrs)
    return naive_clause(cond, attrs)


def per_call_us(fn: Callable[[], object], calls: int) -> float:
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        runs.append((time.perf_counter() - t) / calls)
    return statistics.median(runs) * 1e6


def assign_us(n_exp: int) -> float:
    condition = {"all": [
        {"attr": "country", "op": "in", "value": ["US", "CA", "DE"]},
        {"attr": "app.version", "op": "semver_gte", "value": "4.2.0"},
        {"not": {"segment": "internal-staff"}},
    ]}
    staff = Segment(key="internal-staff",
                    condition={"attr": "email", "op": "ends_with", "value": "@abwb.example"})
    exps = [Experiment(key=f"exp-{i}", status="running", traffic_fraction=0.8,
                       targeting=condition, variants=[
                           Variant(key="control", weight=0.5, is_control=True),
                           Variant(key="treatment", weight=0.5)])
            for i in range(n_exp)]
    assigner = Assigner(ConfigBundle(experiments=exps, segments=[staff]))
    units = [f"user-{i}" for i in range(max(100, 10_000 // n_exp))]
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        for u in units:
            assigner.assign(u, now=NOW, attributes=ATTRS)
        runs.append((time.perf_counter() - t) / len(units))
    return statistics.median(runs) * 1e6


def main() -> None:
    print("== rule evaluation, one attribute row (matching: every clause runs)")
    print(f"{'clauses':>7} {'compiled µs':>12} {'naive µs':>9} {'speed-up':>9} "
          f"{'compiled miss µs':>17}")
    for n in (1, 5, 20):
        cond = rule(n)
        predicate = compile_condition(cond)
        assert predicate(ATTRS)[0] and naive(cond, ATTRS)
        compiled = per_call_us(lambda p=predicate: p(ATTRS), 20_000)
        slow = per_call_us(lambda c=cond: naive(c, ATTRS), 5_000)
        miss_attrs = {**ATTRS, "age": 12}
        miss = per_call_us(lambda p=predicate, m=miss_attrs: p(m), 20_000) if n >= 5 else float("nan")
        print(f"{n:>7} {compiled:>12.2f} {slow:>9.2f} {slow / compiled:>8.1f}x {miss:>17.2f}")
    print("\n== Assigner.assign(): one unit, every experiment running with 3 conditions "
          "(incl. a segment)")
    print(f"{'experiments':>11} {'µs/request':>11} {'µs/decision':>12}")
    for n in (1, 20, 200):
        us = assign_us(n)
        print(f"{n:>11} {us:>11.1f} {us / n:>12.2f}")


if __name__ == "__main__":
    main()
