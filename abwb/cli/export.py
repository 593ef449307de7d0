"""``abwb export``: the workspace as a config file that ``abwb apply`` round-trips.

Writes YAML (or JSON with ``--format json`` or an ``-o`` file ending in ``.json``)
to standard output or to ``-o FILE``. Each object keeps its ``version``, so applying
the file later refuses to overwrite objects changed in the meantime.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import msgspec
import yaml

from abwb.cli.workspace import open_workspace
from abwb.reconciliation import export_data
from abwb.settings import Settings

__all__ = ["register", "render", "run"]

EXAMPLES = """\
examples:
  abwb export                         # YAML on standard output
  abwb export -o workspace.yaml       # then edit it and: abwb apply workspace.yaml
  abwb export --format json | jq '.experiments[].key'
"""


def register(sub: Any) -> None:
    """Add the ``export`` subcommand."""
    p = sub.add_parser(
        "export",
        help="write the workspace as a config file (YAML or JSON)",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    p.add_argument("--format", choices=["yaml", "json"], default=None,
                   help="yaml (default) or json; -o FILE.json implies json")
    p.set_defaults(func=run)


def render(data: dict[str, Any], fmt: str) -> str:
    """Config data as YAML or JSON text."""
    if fmt == "json":
        return msgspec.json.format(msgspec.json.encode(data), indent=2).decode() + "\n"
    header = "# abwb workspace export: edit, then `abwb apply FILE` (versions guard edits)\n"
    body: str = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return header + body


def run(args: argparse.Namespace) -> int:
    """Export the workspace; returns the exit code."""
    fmt = args.format or ("json" if (args.output or "").endswith(".json") else "yaml")
    with open_workspace(Settings.from_env()) as ws:
        text = render(export_data(ws.store), fmt)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
