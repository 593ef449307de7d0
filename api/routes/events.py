"""``POST /v1/events``: durable, idempotent ingestion of exposures and conversions.

What belongs here: parsing the batch and shaping the answer; validation and the
durable append are :func:`abwb.events.ingest.ingest` (202 only after commit).
"""

from typing import Any

from litestar import Request, post
from litestar.params import JSONBody

from abwb.events.ingest import ingest
from api.routes.context import in_thread, services_of
from api.schemas import EventsRequest, EventsResponse

__all__ = ["EVENTS_MAX_BODY_BYTES", "ingest_events"]

#: Largest ``/v1/events`` body: 10,000 rows of a few hundred bytes each fit.
EVENTS_MAX_BODY_BYTES = 8_000_000

@post(
    "/v1/events",
    opt={"scope": "ingest"},
    status_code=202,
    tags=["events"],
    request_max_body_size=EVENTS_MAX_BODY_BYTES,
    summary="Ingest exposures and events (at most 10,000 rows)",
    description="202 once the rows are durably stored, with accepted and duplicate "
    "counts. Idempotent on `event_id` / `exposure_id`; a batch with any invalid row is "
    "rejected whole (422, every problem with its path). 503 when the store is down: "
    "retry the same batch.",
)
async def ingest_events(
    request: Request[Any, Any, Any], data: JSONBody[EventsRequest]
) -> EventsResponse:
    """Append a batch durably."""
    result = await in_thread(
        ingest, services_of(request).event_store, data.exposures, data.events
    )
    return EventsResponse(
        exposures_accepted=result.exposures.accepted,
        exposures_duplicates=result.exposures.duplicates,
        events_accepted=result.events.accepted,
        events_duplicates=result.events.duplicates,
    )
