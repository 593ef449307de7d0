"""The ``abwb`` command: a thin dispatcher over one module per subcommand.

Each subcommand module exposes ``register(subparsers)`` that adds its parser and
sets ``func`` (``argparse.Namespace -> int`` exit code). Add a module to
``COMMANDS`` to add a subcommand.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from abwb.cli.terminal import exit_quietly_on_broken_pipe
from abwb.errors import AbwbError

__all__ = ["COMMANDS", "EXAMPLES", "build_parser", "main"]

#: Subcommand modules under ``abwb.cli``, in help order.
COMMANDS = [
    "demo",
    "validate",
    "apply",
    "diff",
    "export",
    "events",
    "monitor",
    "migrate",
    "readout",
    "serve",
    "keys",
    "sql",
]


EXAMPLES = """\
examples:
  abwb demo                                   # the whole story on the embedded default
  abwb readout checkout-redesign              # HTML report of the demo's experiment
  abwb validate examples/*.yaml               # check config files, every problem at once
  abwb apply examples/checkout.yaml           # plan, then --yes to apply
  abwb sql checkout-redesign --dialect bigquery  # the warehouse query, to run yourself
  abwb COMMAND --help                         # options and examples of one command
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    from abwb import __version__

    parser = argparse.ArgumentParser(
        prog="abwb",
        description="abwb — A/B-testing and feature-flag workbench",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"abwb {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"abwb.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code: int = exit_quietly_on_broken_pipe(lambda: args.func(args))
    except AbwbError as exc:
        print(f"abwb {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
