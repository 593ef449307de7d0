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

from abwb.errors import AbwbError

__all__ = ["COMMANDS", "build_parser", "main"]

#: Subcommand modules under ``abwb.cli``, in help order.
COMMANDS = ["demo", "validate", "monitor", "migrate", "readout", "serve", "keys", "sql"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="abwb", description="abwb — A/B-testing and feature-flag workbench"
    )
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
        code: int = args.func(args)
    except AbwbError as exc:
        print(f"abwb {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
