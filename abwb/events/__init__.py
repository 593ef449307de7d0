"""Exposure and event records, their frame schemas and append results."""

from abwb.events.frames import EVENT_SCHEMA, EXPOSURE_SCHEMA, events_frame, exposures_frame
from abwb.events.models import (
    MAX_ID_BYTES,
    MAX_PROPERTIES_BYTES,
    AppendResult,
    Event,
    Exposure,
    exposure_id,
)

__all__ = [
    "EVENT_SCHEMA",
    "EXPOSURE_SCHEMA",
    "MAX_ID_BYTES",
    "MAX_PROPERTIES_BYTES",
    "AppendResult",
    "Event",
    "Exposure",
    "events_frame",
    "exposure_id",
    "exposures_frame",
]
