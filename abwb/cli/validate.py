"""``abwb validate FILE...``: check config-as-code files and print every problem."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from abwb.cli.terminal import plural
from abwb.config.io import load_bundle
from abwb.errors import InvalidInput

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    """Add the ``validate`` subcommand."""
    p = sub.add_parser(
        "validate",
        help="validate config files (YAML or JSON)",
        description="Check config-as-code files and print every problem of each file in one "
        "run, with its path (experiments[0].variants[2].weight: must be >= 0, got -0.1). "
        "Each file is checked on its own; `abwb diff FILE` checks a partial file against "
        "the workspace.",
        epilog="examples:\n  abwb validate examples/*.yaml\n  abwb validate abwb/demo/demo.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="config files (YAML or JSON)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate each file; exit 1 if any has a problem."""
    failed = 0
    for path in args.files:
        try:
            bundle = load_bundle(path)
        except InvalidInput as exc:
            failed += 1
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            continue
        counts = ", ".join(
            plural(len(getattr(bundle, s)), s[:-1])
            for s in (
                "experiments",
                "segments",
                "layers",
                "holdouts",
                "flags",
                "rollouts",
                "metrics",
            )
            if getattr(bundle, s)
        )
        print(f"{path}: ok ({counts or 'empty'})")
    return 1 if failed else 0
