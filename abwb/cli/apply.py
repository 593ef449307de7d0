"""``abwb apply FILE...``: make the workspace match config files, plan first.

Prints the plan (what is created, changed, started), then applies it with ``--yes``
(or after a ``y`` at the prompt on a terminal). Writes go through the same use cases
as the HTTP API: cross-object checks, optimistic concurrency on each object's version
and an audit row per write with ``--actor`` and ``--reason``. A plan with a conflict
(overlapping experiments, a stale file, an illegal status change) is refused with the
explanation and nothing is written. Exit codes: 0 applied or nothing to do (or plan
only), 1 refused or invalid.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime
from typing import Any

from abwb.cli.workspace import open_workspace, plan_lines, read_files
from abwb.reconciliation import apply_plan, plan_changes
from abwb.settings import Settings

__all__ = ["register", "run"]

EXAMPLES = """\
examples:
  abwb apply examples/checkout.yaml              # show the plan, ask before applying
  abwb apply --yes examples/*.yaml --reason "Q3 checkout test"
  abwb export -o workspace.yaml && abwb apply workspace.yaml   # round trip: no changes
"""


def register(sub: Any) -> None:
    """Add the ``apply`` subcommand."""
    p = sub.add_parser(
        "apply",
        help="make the workspace match config files (plan first, --yes to apply)",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="config files (YAML or JSON)")
    p.add_argument("--yes", "-y", action="store_true", help="apply without asking")
    p.add_argument("--actor", default=None, help="who applies, for the audit (default cli:$USER)")
    p.add_argument("--reason", default=None, help="why, for the audit (default: the file names)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Plan, then apply when confirmed; returns the exit code."""
    files = read_files(args.files)
    now = datetime.now(UTC)
    with open_workspace(Settings.from_env()) as ws:
        plan = plan_changes(ws.store, files, now=now)
        print("\n".join(plan_lines(plan, workspace=ws.name)))
        if plan.refusals:
            print("abwb apply: refused; nothing was written", file=sys.stderr)
            return 1
        if not plan.changes:
            return 0
        if not (args.yes or _confirmed()):
            print("plan only: nothing was written (add --yes to apply)")
            return 0
        actor = args.actor or f"cli:{getpass.getuser()}"
        reason = args.reason or f"abwb apply {' '.join(args.files)}"
        done = apply_plan(ws.changes, plan, actor=actor, reason=reason, now=now)
        print(f"applied {len(done)} change{'' if len(done) == 1 else 's'} as {actor}; "
              f"config version {ws.store.config_version()}")
    return 0


def _confirmed() -> bool:
    if not sys.stdin.isatty():
        return False
    try:
        return input("apply these changes? [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False
