"""Ingesting a batch of exposures and events: validate all, then append durably.

What belongs here: :func:`ingest`, the use case behind ``POST /v1/events`` (and any
other caller that has client-sent rows): every row is validated (every problem with
its path, nothing written when one row is bad), turned into
:class:`~abwb.events.Exposure` / :class:`~abwb.events.Event`, and appended; the result
is returned only after the store's append returned, i.e. after commit. Re-sending a
batch is safe: ids already stored are counted as duplicates. The incoming rows are
anything shaped like :class:`ExposureRow` / :class:`EventRow` (the API's wire
structs are).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import msgspec

from abwb.config.validation import ProblemList, raise_if
from abwb.errors import InvalidInput
from abwb.events.models import AppendResult, Event, Exposure, exposure_id
from abwb.store.protocol import EventStore

__all__ = ["MAX_BATCH_ROWS", "EventRow", "ExposureRow", "IngestResult", "ingest", "rows_of"]

#: Largest batch (exposures + events) accepted at once.
MAX_BATCH_ROWS = 10_000


class ExposureRow(Protocol):
    """An exposure as sent by a client (``exposure_id`` optional: derived when ``None``)."""

    @property
    def experiment(self) -> str: ...  # noqa: D102
    @property
    def variant(self) -> str: ...  # noqa: D102
    @property
    def unit_id(self) -> str: ...  # noqa: D102
    @property
    def exposed_at(self) -> datetime: ...  # noqa: D102
    @property
    def unit_type(self) -> str: ...  # noqa: D102
    @property
    def phase(self) -> int: ...  # noqa: D102
    @property
    def config_version(self) -> int: ...  # noqa: D102
    @property
    def exposure_id(self) -> str | None: ...  # noqa: D102


class EventRow(Protocol):
    """An event as sent by a client (``properties`` as a JSON object)."""

    @property
    def event_id(self) -> str: ...  # noqa: D102
    @property
    def unit_id(self) -> str: ...  # noqa: D102
    @property
    def name(self) -> str: ...  # noqa: D102
    @property
    def occurred_at(self) -> datetime: ...  # noqa: D102
    @property
    def unit_type(self) -> str: ...  # noqa: D102
    @property
    def value(self) -> float | None: ...  # noqa: D102
    @property
    def properties(self) -> dict[str, Any] | None: ...  # noqa: D102


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one ingested batch changed.

    Attributes:
        exposures: Exposures stored and already known.
        events: Events stored and already known.
    """

    exposures: AppendResult
    events: AppendResult


def _exposure(row: ExposureRow) -> Exposure:
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


def _event(row: EventRow) -> Event:
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


def rows_of(
    exposures: Sequence[ExposureRow], events: Sequence[EventRow]
) -> tuple[list[Exposure], list[Event]]:
    """Validated store rows of a batch.

    Args:
        exposures: Incoming exposures.
        events: Incoming events.

    Returns:
        ``(exposures, events)`` ready to append.

    Raises:
        InvalidInput: every problem of every row (paths like ``events[3].value``), or a
            batch larger than :data:`MAX_BATCH_ROWS` rows in total.
    """
    total = len(exposures) + len(events)
    if total > MAX_BATCH_ROWS:
        raise InvalidInput(f"a batch holds at most {MAX_BATCH_ROWS} rows in total, got {total}")
    problems = ProblemList()
    out_x: list[Exposure] = []
    out_e: list[Event] = []
    for i, x in enumerate(exposures):
        try:
            out_x.append(_exposure(x))
        except InvalidInput as exc:
            problems.extend(_prefixed(exc, f"exposures[{i}]"))
    for i, e in enumerate(events):
        try:
            out_e.append(_event(e))
        except InvalidInput as exc:
            problems.extend(_prefixed(exc, f"events[{i}]"))
    raise_if(problems)
    return out_x, out_e


def ingest(
    store: EventStore, exposures: Sequence[ExposureRow], events: Sequence[EventRow]
) -> IngestResult:
    """Validate a batch whole, then append it (blocking: call it off the event loop).

    Args:
        store: Where rows go.
        exposures: Incoming exposures.
        events: Incoming events.

    Returns:
        Accepted and duplicate counts, once the rows are committed.

    Raises:
        InvalidInput: any row is invalid (nothing is written).
        StorageError: the store failed (retry the same batch: it is idempotent).
    """
    rows_x, rows_e = rows_of(exposures, events)
    none = AppendResult(accepted=0, duplicates=0)
    x = store.append_exposures(rows_x) if rows_x else none
    e = store.append_events(rows_e) if rows_e else none
    return IngestResult(exposures=x, events=e)


def _prefixed(exc: InvalidInput, base: str) -> ProblemList:
    out = ProblemList()
    for p in exc.problems:
        out.add(f"{base}.{p.path}" if p.path else base, p.message)
    return out
