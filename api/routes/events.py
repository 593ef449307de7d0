"""``POST /v1/events``: durable, idempotent ingestion of exposures and conversions.

What belongs here: validating a batch (every problem with its path, nothing written
when one row is bad), turning wire rows into :class:`~abwb.events.Exposure` /
:class:`~abwb.events.Event`, and acknowledging (202) only after the store's append
returned — i.e. after commit. Re-sending a batch is safe: ids already stored are
counted as duplicates.
"""

from typing import Any

import msgspec
from litestar import Request, post
from litestar.params import JSONBody

from abwb.config.validation import ProblemList, raise_if
from abwb.errors import InvalidInput
from abwb.events.models import AppendResult, Event, Exposure, exposure_id
from api.routes.context import in_thread, services_of
from api.schemas import MAX_EVENT_ROWS, EventIn, EventsRequest, EventsResponse, ExposureIn

__all__ = ["EVENTS_MAX_BODY_BYTES", "ingest_events", "rows_of"]

#: Largest ``/v1/events`` body: 10,000 rows of a few hundred bytes each fit.
EVENTS_MAX_BODY_BYTES = 8_000_000


def _exposure(row: ExposureIn) -> Exposure:
    return Exposure(
        exposure_id=row.exposure_id
        or exposure_id(row.experiment, row.phase, row.unit_type, row.unit_id),
        experiment=row.experiment,
        variant=row.variant,
        phase=row.phase,
        unit_type=row.unit_type,
        unit_id=row.unit_id,
        config_version=row.config_version,
        exposed_at=row.exposed_at,
    )


def _event(row: EventIn) -> Event:
    properties = None if row.properties is None else msgspec.json.encode(row.properties).decode()
    return Event(
        event_id=row.event_id,
        unit_type=row.unit_type,
        unit_id=row.unit_id,
        name=row.name,
        occurred_at=row.occurred_at,
        value=row.value,
        properties=properties,
    )


def rows_of(data: JSONBody[EventsRequest]) -> tuple[list[Exposure], list[Event]]:
    """Validated store rows of a request.

    Raises:
        InvalidInput: every problem of every row (paths like ``events[3].value``), or a
            batch larger than :data:`~api.schemas.MAX_EVENT_ROWS` rows in total.
    """
    total = len(data.exposures) + len(data.events)
    if total > MAX_EVENT_ROWS:
        raise InvalidInput(f"a batch holds at most {MAX_EVENT_ROWS} rows in total, got {total}")
    problems = ProblemList()
    exposures: list[Exposure] = []
    events: list[Event] = []
    for i, x in enumerate(data.exposures):
        try:
            exposures.append(_exposure(x))
        except InvalidInput as exc:
            problems.extend(_prefixed(exc, f"exposures[{i}]"))
    for i, e in enumerate(data.events):
        try:
            events.append(_event(e))
        except InvalidInput as exc:
            problems.extend(_prefixed(exc, f"events[{i}]"))
    raise_if(problems)
    return exposures, events


def _prefixed(exc: InvalidInput, base: str) -> ProblemList:
    out = ProblemList()
    for p in exc.problems:
        out.add(f"{base}.{p.path}" if p.path else base, p.message)
    return out


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
    exposures, events = rows_of(data)
    store = services_of(request).event_store
    none = AppendResult(accepted=0, duplicates=0)
    x = await in_thread(store.append_exposures, exposures) if exposures else none
    e = await in_thread(store.append_events, events) if events else none
    return EventsResponse(
        exposures_accepted=x.accepted,
        exposures_duplicates=x.duplicates,
        events_accepted=e.accepted,
        events_duplicates=e.duplicates,
    )
