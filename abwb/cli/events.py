"""``abwb events export``: the event store's exposures and events as Parquet files.

Writes ``DIR/exposures.parquet`` and ``DIR/events.parquet`` in the contract schema
(:data:`abwb.events.EXPOSURE_SCHEMA`, :data:`abwb.events.EVENT_SCHEMA`; timestamps
are UTC microseconds), so a warehouse reads what the embedded store holds: on a
laptop, ``abwb readout KEY --warehouse local[2]`` with the ``--warehouse-tables``
this command prints. Existing files of those names are replaced; ``--experiment``
limits the exposures to one experiment (the events are all kept: any experiment's
metrics may read them). The whole store is read into memory once.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from abwb.errors import InvalidInput
from abwb.settings import Settings

__all__ = ["export_events", "register", "run"]

EXAMPLES = """\
examples:
  abwb events export --format parquet data/       # data/exposures.parquet, data/events.parquet
  abwb events export data/ --experiment checkout-redesign
  abwb readout checkout-redesign --warehouse 'local[2]' --warehouse-tables \\
      'exposures=parquet.`/abs/data/exposures.parquet`,events=parquet.`/abs/data/events.parquet`'
"""


def register(sub: Any) -> None:
    """Add the ``events`` subcommand (``events export``)."""
    p = sub.add_parser(
        "events",
        help="export the event store's exposures and events (Parquet, for a warehouse)",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    e = actions.add_parser(
        "export", help="write DIR/exposures.parquet and DIR/events.parquet",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument("directory", metavar="DIR", help="directory to write (created if missing)")
    e.add_argument("--format", choices=["parquet"], default="parquet",
                   help="file format (parquet, the only one so far)")
    e.add_argument("--experiment", metavar="KEY", default=None,
                   help="only this experiment's exposures (default: all)")
    e.set_defaults(func=run)


def export_events(
    settings: Settings, directory: Path, *, experiment: str | None = None
) -> tuple[tuple[Path, int], tuple[Path, int]]:
    """Write the store's exposures and events to ``directory`` as Parquet.

    Args:
        settings: Which event store to read (``ABWB_DATABASE_URL``).
        directory: Target directory (created if missing).
        experiment: Only this experiment's exposures.

    Returns:
        ``(path, rows)`` of the exposures file and of the events file.

    Raises:
        InvalidInput: ``directory`` exists and is not a directory.
        StorageError: The store failed.
    """
    from abwb.store import open_stores

    if directory.exists() and not directory.is_dir():
        raise InvalidInput(f"{directory} exists and is not a directory", path="DIR")
    stores = open_stores(settings)
    try:
        exposures = stores.events.read_exposures(experiment=experiment)
        events = stores.events.read_events()
    finally:
        stores.close()
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in (("exposures", exposures), ("events", events)):
        path = (directory / f"{name}.parquet").resolve()
        frame.write_parquet(path)
        written.append((path, frame.height))
    return written[0], written[1]


def run(args: argparse.Namespace) -> int:
    """Export; prints what was written and the ``--warehouse-tables`` to read it."""
    (exp_path, exp_rows), (ev_path, ev_rows) = export_events(
        Settings.from_env(), Path(args.directory), experiment=args.experiment)
    print(f"wrote {exp_rows} exposures to {exp_path}\nwrote {ev_rows} events to {ev_path}")
    print("read them in Spark with:\n  --warehouse-tables "
          f"'exposures=parquet.`{exp_path}`,events=parquet.`{ev_path}`'")
    return 0
