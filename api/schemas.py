"""Wire formats of the HTTP API: msgspec request and response Structs (snake_case).

What belongs here: every body the API reads or writes that is not a config model
itself (config objects travel as :mod:`abwb.config` Structs unchanged). Requests
forbid unknown fields, so a typo (``unitid``) is an error naming the field rather
than a silently ignored value. Limits (lengths, batch sizes) are declared here with
``msgspec.Meta`` so they show up in the OpenAPI schema.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from abwb.assignment.decision import Decision
from abwb.config.kinds import Kind
from abwb.events.ingest import MAX_BATCH_ROWS
from abwb.flags.evaluation import FlagEvaluation
from abwb.monitoring.alerts import Alert
from abwb.store.protocol import AuditEntry

__all__ = [
    "MAX_BULK_UNITS",
    "MAX_EVENT_ROWS",
    "AlertPage",
    "AssignRequest",
    "AssignResponse",
    "AuditPage",
    "BulkAssignRequest",
    "BulkAssignResponse",
    "BulkUnit",
    "EventIn",
    "EventsRequest",
    "EventsResponse",
    "ExposureIn",
    "FlagEvaluateRequest",
    "FlagEvaluateResponse",
    "FlagValue",
    "HealthResponse",
    "LiveResponse",
    "OfrepBulkItem",
    "OfrepBulkResponse",
    "OfrepError",
    "OfrepRequest",
    "OfrepSuccess",
    "Page",
    "ReadyCheck",
    "ReadyResponse",
    "RolloutActionRequest",
    "StatusChange",
    "SwitchRequest",
    "TargetingBody",
    "ValidateRequest",
    "ValidateResponse",
]

#: Largest ``POST /v1/assign/bulk`` batch.
MAX_BULK_UNITS = 1_000
#: Largest ``POST /v1/events`` batch (exposures + events).
MAX_EVENT_ROWS = MAX_BATCH_ROWS

KindName = Kind
UnitId = Annotated[str, msgspec.Meta(min_length=1, max_length=512, examples=["user-42"])]
UnitType = Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["user"])]
Key = Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["checkout-redesign"])]
Attributes = Annotated[
    dict[str, Any],
    msgspec.Meta(examples=[{"country": "US", "plan": "pro", "app": {"version": "4.2.0"}}]),
]


class AssignRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/assign``: one unit, its attributes, optionally a subset of experiments."""

    unit_id: UnitId
    unit_type: UnitType = "user"
    attributes: Attributes = msgspec.field(default_factory=dict)
    experiments: Annotated[list[Key], msgspec.Meta(max_length=1000)] | None = None
    log_exposure: bool = True
    flags: bool = True


class FlagValue(msgspec.Struct, frozen=True, kw_only=True):
    """One evaluated flag: its value, variation and why."""

    key: str
    value: Any
    variation: str | None
    reason: str
    error_code: str | None = None
    detail: str = ""

    @classmethod
    def of(cls, ev: FlagEvaluation) -> FlagValue:
        """The wire form of one evaluation.

        Args:
            ev: The evaluation.

        Returns:
            Its wire form.
        """
        return cls(
            key=ev.flag,
            value=ev.value,
            variation=ev.variation,
            reason=str(ev.reason),
            error_code=None if ev.error_code is None else str(ev.error_code),
            detail=ev.detail,
        )


class AssignResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Every evaluated experiment's decision (with payload and reason) for one unit."""

    unit_id: str
    unit_type: str
    config_version: int
    assignments: list[Decision]
    flags: dict[str, FlagValue] = msgspec.field(default_factory=dict)


class BulkUnit(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One unit of a bulk assignment."""

    unit_id: UnitId
    unit_type: UnitType = "user"
    attributes: Attributes = msgspec.field(default_factory=dict)


class BulkAssignRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/assign/bulk``: up to :data:`MAX_BULK_UNITS` units."""

    units: Annotated[list[BulkUnit], msgspec.Meta(min_length=1, max_length=MAX_BULK_UNITS)]
    experiments: Annotated[list[Key], msgspec.Meta(max_length=1000)] | None = None
    log_exposure: bool = True
    flags: bool = False


class BulkAssignResponse(msgspec.Struct, frozen=True, kw_only=True):
    """One :class:`AssignResponse` per unit, in request order."""

    config_version: int
    results: list[AssignResponse]


class Page(msgspec.Struct, frozen=True, kw_only=True):
    """A page of config objects."""

    items: list[Any]
    limit: int
    offset: int
    count: int


class AuditPage(msgspec.Struct, frozen=True, kw_only=True):
    """Recorded config changes, newest first."""

    items: list[AuditEntry]


class AlertPage(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /v1/alerts``: one page of monitoring alerts, newest first."""

    items: Annotated[
        list[Alert], msgspec.Meta(description="The alerts of this page, newest opened first.")
    ]
    next_offset: Annotated[
        int | None,
        msgspec.Meta(
            description="The `offset` of the next page; `null` when this page is the last.",
            examples=[100],
        ),
    ] = None


class TargetingBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``PUT /v1/experiments/{key}/targeting``: the condition (``null`` = everyone)."""

    targeting: Any = None
    reason: str = ""


class StatusChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/experiments/{key}/status``: a lifecycle action and why (audited)."""

    action: Literal["start", "pause", "resume", "stop", "archive"]
    reason: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class ValidateRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/validate``: a whole bundle, or one object of a kind (dry run)."""

    bundle: dict[str, Any] | None = None
    kind: KindName | None = None
    object: dict[str, Any] | None = None


class ValidateResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Dry-run outcome: ``valid`` and every problem with its path."""

    valid: bool
    errors: list[dict[str, str]]


class ExposureIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A client-logged exposure; ``exposure_id`` defaults to the standard de-dup key."""

    experiment: str
    variant: str
    unit_id: str
    exposed_at: datetime
    unit_type: str = "user"
    phase: int = 1
    config_version: int = 0
    exposure_id: str | None = None


class EventIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A client event (conversion); ``event_id`` makes re-sending a no-op."""

    event_id: str
    unit_id: str
    name: str
    occurred_at: datetime
    unit_type: str = "user"
    value: float | None = None
    properties: dict[str, Any] | None = None


class EventsRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/events``: at most :data:`MAX_EVENT_ROWS` rows in total."""

    exposures: Annotated[list[ExposureIn], msgspec.Meta(max_length=MAX_EVENT_ROWS)] = msgspec.field(
        default_factory=list
    )
    events: Annotated[list[EventIn], msgspec.Meta(max_length=MAX_EVENT_ROWS)] = msgspec.field(
        default_factory=list
    )


class EventsResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Counts of a durable append: new rows and duplicates (already stored ids)."""

    exposures_accepted: int
    exposures_duplicates: int
    events_accepted: int
    events_duplicates: int


class FlagEvaluateRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/flags/evaluate``: one unit's context; optionally only some flags."""

    unit_id: UnitId | None = None
    unit_type: UnitType = "user"
    attributes: Attributes = msgspec.field(default_factory=dict)
    flags: Annotated[list[Key], msgspec.Meta(max_length=1000)] | None = None
    log_exposure: bool = True


class FlagEvaluateResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Every (or each named) flag's value for one unit."""

    config_version: int
    flags: dict[str, FlagValue]


class SwitchRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/flags/{key}/kill`` and ``/revive``: why (audited)."""

    reason: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class RolloutActionRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/rollouts/{key}/actions``."""

    action: Literal["start", "pause", "resume", "advance", "complete", "roll_back"]
    reason: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    units_seen: Annotated[int, msgspec.Meta(ge=0)] | None = None


class OfrepRequest(msgspec.Struct, frozen=True, kw_only=True):
    """OpenFeature Remote Evaluation Protocol request: ``{"context": {...}}``.

    The context's ``targetingKey`` is the unit id (OFREP's wire names are camelCase).
    """

    context: dict[str, Any] = msgspec.field(default_factory=dict)


class OfrepSuccess(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """OFREP evaluation success."""

    key: str
    value: Any
    reason: str
    variant: str | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class OfrepError(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """OFREP evaluation failure (``errorCode`` per the OpenFeature spec)."""

    key: str
    error_code: str
    error_details: str


class OfrepBulkItem(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One flag of an OFREP bulk answer: success fields or ``errorCode`` + ``errorDetails``."""

    key: str
    value: Any | msgspec.UnsetType = msgspec.UNSET
    reason: str | msgspec.UnsetType = msgspec.UNSET
    variant: str | msgspec.UnsetType | None = msgspec.UNSET
    metadata: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    error_code: str | msgspec.UnsetType = msgspec.UNSET
    error_details: str | msgspec.UnsetType = msgspec.UNSET


class OfrepBulkResponse(msgspec.Struct, frozen=True, kw_only=True):
    """OFREP bulk evaluation: every flag's success or error."""

    flags: list[OfrepBulkItem]


class HealthResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Service health: store, cache, config snapshot and exposure queue."""

    status: Literal["ok", "degraded"]
    config_version: int
    snapshot_age_s: float
    snapshot_error: str | None
    store: dict[str, Any]
    cache: dict[str, Any]
    exposures: dict[str, Any]
    degradations: dict[str, int]


class LiveResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Liveness: the process is up and serving HTTP."""

    status: Literal["ok"] = "ok"


class ReadyCheck(msgspec.Struct, frozen=True, kw_only=True):
    """One dependency probed by ``/ready``.

    Attributes:
        ok: Whether it answered (or, for the snapshot, is fresh enough).
        detail: What went wrong (empty when ok).
        kind: The adapter probed (``SqliteConfigStore``, ``RedisAssignmentCache``...).
        age_s: Snapshot only: seconds since it was loaded or confirmed current.
        max_age_s: Snapshot only: the staleness threshold (``None``: not checked).
    """

    ok: bool
    detail: str = ""
    kind: str = ""
    age_s: float | None = None
    max_age_s: float | None = None


class ReadyResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Readiness: 200 while assignment can be served (``ready`` or ``degraded``), else 503."""

    status: Literal["ready", "degraded", "not_ready"]
    degraded: list[str]
    config_version: int
    checks: dict[str, ReadyCheck]
