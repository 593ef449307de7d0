"""Polars frame schemas of exposures and events, and builders from row Structs.

What belongs here: the exact column names and dtypes every event store returns
(the contract analysis pipelines rely on) and conversions between rows and frames.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from abwb.events.models import Event, Exposure

__all__ = [
    "EVENT_SCHEMA",
    "EXPOSURE_SCHEMA",
    "events_frame",
    "exposures_frame",
]

UTC_MICROS: pl.DataType = pl.Datetime("us", "UTC")
_STRING: pl.DataType = pl.String()

#: Columns and dtypes of an exposures frame.
EXPOSURE_SCHEMA = pl.Schema(
    {
        "exposure_id": _STRING,
        "experiment": _STRING,
        "variant": _STRING,
        "phase": pl.Int32(),
        "unit_type": _STRING,
        "unit_id": _STRING,
        "config_version": pl.Int64(),
        "exposed_at": UTC_MICROS,
    }
)

#: Columns and dtypes of an events frame.
EVENT_SCHEMA = pl.Schema(
    {
        "event_id": _STRING,
        "unit_type": _STRING,
        "unit_id": _STRING,
        "name": _STRING,
        "value": pl.Float64(),
        "occurred_at": UTC_MICROS,
        "properties": _STRING,
    }
)


def exposures_frame(rows: Sequence[Exposure]) -> pl.DataFrame:
    """An exposures frame (``EXPOSURE_SCHEMA``) holding ``rows`` in order.

    Examples:
        >>> exposures_frame([]).schema == EXPOSURE_SCHEMA
        True
    """
    return pl.DataFrame(
        {name: [getattr(r, name) for r in rows] for name in EXPOSURE_SCHEMA},
        schema=EXPOSURE_SCHEMA,
    )


def events_frame(rows: Sequence[Event]) -> pl.DataFrame:
    """An events frame (``EVENT_SCHEMA``) holding ``rows`` in order.

    Examples:
        >>> events_frame([]).columns
        ['event_id', 'unit_type', 'unit_id', 'name', 'value', 'occurred_at', 'properties']
    """
    return pl.DataFrame(
        {name: [getattr(r, name) for r in rows] for name in EVENT_SCHEMA},
        schema=EVENT_SCHEMA,
    )
