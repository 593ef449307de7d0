"""Online serving: assign units, evaluate flags, hand exposures to the exposure log."""

from abwb.serving.assignment import (
    BULK_CHUNK_UNITS,
    MAX_UNIT_ID_BYTES,
    FlagsResult,
    Serving,
    UnitRequest,
    UnitResult,
    check_unit_id,
)
from abwb.serving.in_flight import InFlightLimit

__all__ = [
    "BULK_CHUNK_UNITS",
    "MAX_UNIT_ID_BYTES",
    "FlagsResult",
    "InFlightLimit",
    "Serving",
    "UnitRequest",
    "UnitResult",
    "check_unit_id",
]
