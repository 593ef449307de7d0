"""``abwb demo``: the README's main job, on the embedded default.

Shows assignment end to end: sample users with their variants and reasons, then the
measured split of many simulated users against the configured weights (with the
sample-ratio chi-square test).
"""

from __future__ import annotations

import argparse
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from scipy import stats

from abwb.assignment.allocation import bucket_counts
from abwb.assignment.engine import Assigner
from abwb.demo.scenario import demo_bundle, sample_users

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    """Add the ``demo`` subcommand."""
    p = sub.add_parser("demo", help="run the end-to-end demo on the embedded default")
    p.add_argument("--users", type=int, default=100_000, help="simulated users (default 100000)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns 0."""
    console = Console()
    bundle = demo_bundle()
    assigner = Assigner(bundle)
    now = datetime.now(UTC)
    console.rule("[bold]abwb demo[/] — assignment")
    console.print(
        f"config version {bundle.version}: "
        + ", ".join(f"[cyan]{e.key}[/] ({len(e.variants)} variants)" for e in bundle.experiments)
    )
    users = sample_users(max(args.users, 12))
    sample = [*users[:11], ("qa-alice", {"country": "US", "plan": "pro"})]
    table = Table(title="Sample users", show_lines=False)
    table.add_column("unit id")
    for exp in bundle.experiments:
        table.add_column(exp.key)
    for unit_id, attrs in sample:
        result = assigner.assign(unit_id, now=now, attributes=attrs)
        table.add_row(
            unit_id,
            *(f"{d.variant or '—'} [dim]({d.reason.value})[/]" for d in result.decisions),
        )
    console.print(table)

    counts: dict[str, Counter[str]] = {e.key: Counter() for e in bundle.experiments}
    reasons: dict[str, Counter[str]] = {e.key: Counter() for e in bundle.experiments}
    with console.status(f"assigning {len(users):,} users..."):
        started = datetime.now(UTC)
        for unit_id, attrs in users:
            for d in assigner.assign(unit_id, now=now, attributes=attrs).decisions:
                reasons[d.experiment][d.reason.value] += 1
                if d.variant is not None:
                    counts[d.experiment][d.variant] += 1
        elapsed = (datetime.now(UTC) - started).total_seconds()
    split = Table(title=f"Measured split over {len(users):,} users")
    for col in ("experiment", "variant", "expected", "measured", "units", "SRM p-value"):
        split.add_column(col, justify="right" if col != "experiment" else "left")
    for exp in bundle.experiments:
        observed = [counts[exp.key][v.key] for v in exp.variants]
        total = sum(observed)
        expected_share = [c / 10_000 for c in bucket_counts([v.weight for v in exp.variants])]
        p_value = stats.chisquare(observed, [s * total for s in expected_share]).pvalue
        for i, (v, n) in enumerate(zip(exp.variants, observed, strict=True)):
            split.add_row(
                exp.key if i == 0 else "",
                v.key,
                f"{expected_share[i]:.1%}",
                f"{n / total:.2%}" if total else "—",
                f"{n:,}",
                f"{p_value:.3f}" if i == 0 else "",
            )
    console.print(split)
    for exp in bundle.experiments:
        why = ", ".join(f"{r} {n:,}" for r, n in reasons[exp.key].most_common())
        console.print(f"[cyan]{exp.key}[/]: {why}")
    per_decision_us = elapsed / (len(users) * len(bundle.experiments)) * 1e6
    console.print(
        f"{len(users) * len(bundle.experiments):,} decisions in {elapsed:.2f} s "
        f"({per_decision_us:.1f} µs per decision, pure Python, one core)"
    )
    return 0
