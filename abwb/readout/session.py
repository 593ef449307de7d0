"""What a notebook needs before its first readout call: version check and store connection.

What belongs here: :func:`require_version` (the readout notebook's second cell)
and :func:`connect` (stores from a ``database_url`` parameter, or from the
environment when it is ``None``). Entry points choose adapters; a notebook is one.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from abwb.errors import InvalidInput
from abwb.settings import DatabaseSettings, Settings
from abwb.store.protocol import ConfigStore, EventStore

if TYPE_CHECKING:
    from abwb.readout.model import ReadoutResult

__all__ = ["connect", "load_or_build_readout", "require_version"]


def _parts(version: str) -> tuple[int, ...]:
    out = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        out.append(int(digits or 0))
    return tuple(out)


def require_version(minimum: str, *, installed: str | None = None) -> str:
    """Check that the installed abwb is at least ``minimum``.

    Args:
        minimum: Oldest abwb version the notebook works with (``0.1.0``).
        installed: Version to check (default ``abwb.__version__``).

    Returns:
        The installed version.

    Raises:
        InvalidInput: abwb is older than the notebook needs.

    Examples:
        >>> require_version("0.1.0", installed="0.2.1")
        '0.2.1'
        >>> require_version("1.0", installed="0.9.3")
        Traceback (most recent call last):
        ...
        abwb.errors.InvalidInput: abwb: this notebook needs abwb >= 1.0, installed 0.9.3; ...
    """
    if installed is None:
        import abwb

        installed = abwb.__version__
    if _parts(installed) < _parts(minimum):
        raise InvalidInput(
            f"this notebook needs abwb >= {minimum}, installed {installed}; "
            "upgrade with `pip install -U abwb`",
            path="abwb",
        )
    return installed


def connect(
    database_url: str | None = None, schema: str | None = None
) -> tuple[ConfigStore, EventStore]:
    """Open the config and event stores for a notebook.

    Args:
        database_url: ``sqlite:///path`` or ``postgresql://...``; ``None`` uses
            ``ABWB_DATABASE_URL`` or the embedded default.
        schema: PostgreSQL schema; ``None`` uses ``ABWB_DATABASE_SCHEMA`` (``public``).

    Returns:
        ``(config_store, event_store)``.

    Raises:
        InvalidInput: ``database_url`` is not a supported URL.
        StorageError: The database cannot be opened.
    """
    from abwb.store import open_stores

    settings = Settings.from_env()
    if database_url is not None:
        if not isinstance(database_url, str) or not database_url.startswith(
            ("sqlite:", "postgresql://", "postgres://")
        ):
            raise InvalidInput(
                f"must be None, sqlite:///PATH or postgresql://..., got {database_url!r}",
                path="database_url",
            )
        settings = Settings(
            database=DatabaseSettings(
                url=database_url, home=settings.database.home, schema=settings.database.schema
            ),
            cache=settings.cache, api=settings.api, analysis=settings.analysis,
        )
    stores = open_stores(settings, schema=schema)
    stores.alerts.close()  # a notebook needs the config and event stores only
    return stores.config, stores.events


def load_or_build_readout(
    readout_path: str | None,
    *,
    experiment_key: str,
    database_url: str | None = None,
    database_schema: str | None = None,
    as_of: Any = None,
    engine: str = "frequentist",
    alpha: float = 0.05,
    metrics: Any = None,
    segments: Any = None,
    warehouse_url: str | None = None,
    warehouse_tables: str | None = None,
) -> ReadoutResult:
    """The readout a notebook presents: the one a run saved, or one built now.

    ``abwb readout`` computes the readout once, writes ``results.json`` from it and
    saves it; the notebook it executes loads that very object, so the report and the
    JSON cannot disagree. Run by hand (``readout_path`` None) the notebook builds it
    here through the same :func:`abwb.readout.build_readout`.

    Args:
        readout_path: A readout saved by :func:`abwb.readout.save_readout`, or ``None``.
        experiment_key: Experiment to read out (checked against the saved readout).
        database_url: Database when building (see :func:`connect`).
        database_schema: PostgreSQL schema when building.
        as_of: Last day of data when building (default: the last complete day).
        engine: Statistics engine when building.
        alpha: Significance level when building.
        metrics: Metric keys when building.
        segments: Segment keys when building.
        warehouse_url: Run the metric pipeline in this warehouse when building
            (``postgresql://...``, ``local[N]``, ``sc://host:port``; ``None``: the store).
        warehouse_tables: ``exposures=TABLE,events=TABLE`` there (default
            ``ABWB_WAREHOUSE_TABLES``; unset: the event store's tables in
            ``database_schema`` on PostgreSQL, as ``abwb readout --warehouse`` reads).

    Returns:
        The readout.

    Raises:
        InvalidInput: A bad parameter, or a saved readout of another experiment.
    """
    from abwb.readout.build import build_readout
    from abwb.readout.report import load_readout

    if readout_path:
        readout = load_readout(readout_path)
        if readout.facts.key != experiment_key:
            raise InvalidInput(
                f"the saved readout is of {readout.facts.key!r}, not {experiment_key!r}",
                path="readout_path",
            )
        return readout
    from abwb.metrics import warehouse_source

    warehouse = None
    if warehouse_url:
        settings = Settings.from_env()
        if database_schema:
            settings = dataclasses.replace(settings, database=dataclasses.replace(
                settings.database, schema=database_schema))
        warehouse = warehouse_source(settings, url=warehouse_url, tables=warehouse_tables)
    stores = connect(database_url, database_schema)
    try:
        return build_readout(stores, experiment_key, as_of=as_of, engine=engine, alpha=alpha,
                             metrics=metrics, segments=segments, warehouse=warehouse)
    finally:
        for store in stores:
            store.close()
