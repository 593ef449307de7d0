"""``abwb diff FILE...``: how the workspace differs from config files (writes nothing).

Prints the same plan ``abwb apply`` would show. Exit codes: 0 the workspace matches
the files, 1 it differs (or applying would be refused, or a file is invalid).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from abwb.cli.workspace import open_workspace, plan_lines, read_files
from abwb.reconciliation import plan_changes
from abwb.settings import Settings

__all__ = ["register", "run"]

EXAMPLES = """\
examples:
  abwb diff examples/checkout.yaml      # what `abwb apply` would change
  abwb diff workspace.yaml && echo "in sync"
"""


def register(sub: Any) -> None:
    """Add the ``diff`` subcommand."""
    p = sub.add_parser(
        "diff",
        help="show how the workspace differs from config files",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="config files (YAML or JSON)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the plan; returns 0 when in sync, 1 otherwise."""
    files = read_files(args.files)
    with open_workspace(Settings.from_env()) as ws:
        plan = plan_changes(ws.store, files, now=datetime.now(UTC))
        print("\n".join(plan_lines(plan, workspace=ws.name)))
    return 0 if plan.in_sync else 1
