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
from abwb.assignment.hashing import MAX_UNIT_ID_BYTES
from abwb.config.kinds import Kind
from abwb.config.validation import KEY_PATTERN, Bound
from abwb.events.ingest import MAX_BATCH_ROWS
from abwb.events.models import MAX_ID_BYTES, MAX_PHASE, MAX_UNIT_TYPE_BYTES
from abwb.flags.evaluation import FlagEvaluation
from abwb.monitoring.alerts import Alert
from abwb.store.protocol import AuditEntry

__all__ = [
    "KEY_REGEX",
    "MAX_BULK_UNITS",
    "MAX_EVENT_ROWS",
    "NO_NUL",
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
#: Ids never hold NUL (PostgreSQL text cannot store it). A ``Bound``, so only the
#: document states it (the serving and event checks refuse NUL with their messages;
#: msgspec would otherwise run the regex on every unit id of the hot path).
NO_NUL = "^[^\\u0000]*$"
#: ``maxLength`` counts characters; the limits are in UTF-8 bytes (``MAX_UNIT_ID_BYTES`` of
#: the engine, ``MAX_UNIT_TYPE_BYTES`` of the event rows), as many as ASCII characters: a
#: non-ASCII id within ``maxLength`` but over the bytes is refused by the serving check
#: (422 naming the field).
UnitId = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_UNIT_ID_BYTES,
        description=f"At most {MAX_UNIT_ID_BYTES} bytes of UTF-8 (ASCII: characters), no NUL.",
        examples=["user-42"],
    ),
    Bound(pattern=NO_NUL),
]
UnitType = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_UNIT_TYPE_BYTES,
        description=f"At most {MAX_UNIT_TYPE_BYTES} bytes of UTF-8 (ASCII: characters), no NUL.",
        examples=["user"],
    ),
    Bound(pattern=NO_NUL),
]
#: The config key rule as a JSON-schema ``pattern``. ``$(?!\n)`` is the end of the string
#: in JSON Schema's regex dialect *and* in Python's ``re.search`` (where ``$`` alone also
#: matches before a final newline: ``"exp\n"`` must not pass as a key).
KEY_REGEX = f"^{KEY_PATTERN.pattern}$(?!\\n)"
Key = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=64, pattern=KEY_REGEX, examples=["checkout-redesign"]),
]
#: Bounds the event rows check (:mod:`abwb.events.models`), declared for the OpenAPI
#: document only (msgspec ignores a ``Bound``; the rows' own checks answer with their
#: messages). Lengths count characters: the UTF-8 byte limits are at least as strict.
_ROW_ID = Bound(min_length=1, max_length=MAX_ID_BYTES, pattern=NO_NUL)
#: ``exposure_id``: empty (like ``null``) means "derive the standard de-dup key".
_ROW_ID_OR_DEFAULT = Bound(max_length=MAX_ID_BYTES, pattern=NO_NUL)
_ROW_UNIT_ID = Bound(min_length=1, max_length=MAX_UNIT_ID_BYTES, pattern=NO_NUL)
_ROW_UNIT_TYPE = Bound(min_length=1, max_length=MAX_UNIT_TYPE_BYTES, pattern=NO_NUL)
_ROW_PHASE = Bound(ge=1, le=MAX_PHASE)
_ROW_CONFIG_VERSION = Bound(ge=0, le=2**63 - 1)
Attributes = Annotated[
    dict[str, Any],
    msgspec.Meta(examples=[{"country": "US", "plan": "pro", "app": {"version": "4.2.0"}}]),
]


class AssignRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/assign``: one unit, its attributes, optionally a subset of experiments.

    Attributes:
        unit_id: The unit to assign (user id, device id...); hashed, never stored raw in decisions.
        unit_type: What kind of unit `unit_id` is; only experiments of this unit type apply.
        attributes: Targeting attributes of the unit (country, plan, app version...).
        experiments: Only these experiment keys (default: every running experiment).
        log_exposure: Log an exposure for each experiment the unit is placed in.
        flags: Also evaluate every flag for the unit.
    """

    unit_id: UnitId
    unit_type: UnitType = "user"
    attributes: Attributes = msgspec.field(default_factory=dict)
    experiments: Annotated[list[Key], msgspec.Meta(max_length=1000)] | None = None
    log_exposure: bool = True
    flags: bool = True


class FlagValue(msgspec.Struct, frozen=True, kw_only=True):
    """One evaluated flag: its value, variation and why.

    Attributes:
        key: The flag key.
        value: The value served (type of the flag).
        variation: The variation served (`null` on error).
        reason: Why: `targeting_match`, `split`, `experiment`, `default`, `off`, `killed`,
            `error`...
        error_code: OpenFeature error code when the evaluation failed (`FLAG_NOT_FOUND`...).
        detail: Human detail of the reason (the rule or error).
    """

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
    """Every evaluated experiment's decision (with payload and reason) for one unit.

    Attributes:
        unit_id: The unit assigned.
        unit_type: Its unit type.
        config_version: Version of the config snapshot that decided.
        assignments: One decision per evaluated experiment (variant or why none).
        flags: Every flag's value for the unit, by key (when `flags` was true).
    """

    unit_id: str
    unit_type: str
    config_version: int
    assignments: list[Decision]
    flags: dict[str, FlagValue] = msgspec.field(default_factory=dict)


class BulkUnit(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One unit of a bulk assignment.

    Attributes:
        unit_id: The unit to assign.
        unit_type: What kind of unit it is.
        attributes: Targeting attributes of the unit.
    """

    unit_id: UnitId
    unit_type: UnitType = "user"
    attributes: Attributes = msgspec.field(default_factory=dict)


class BulkAssignRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/assign/bulk``: up to :data:`MAX_BULK_UNITS` units.

    Attributes:
        units: The units, 1 to 1,000.
        experiments: Only these experiment keys (default: every running experiment).
        log_exposure: Log exposures of units placed in an experiment.
        flags: Also evaluate every flag per unit (default false: bulk is for experiments).
    """

    units: Annotated[list[BulkUnit], msgspec.Meta(min_length=1, max_length=MAX_BULK_UNITS)]
    experiments: Annotated[list[Key], msgspec.Meta(max_length=1000)] | None = None
    log_exposure: bool = True
    flags: bool = False


class BulkAssignResponse(msgspec.Struct, frozen=True, kw_only=True):
    """One :class:`AssignResponse` per unit, in request order.

    Attributes:
        config_version: Version of the one config snapshot used for every unit.
        results: One answer per unit, in request order.
    """

    config_version: int
    results: list[AssignResponse]


class Page(msgspec.Struct, frozen=True, kw_only=True):
    """A page of config objects.

    Attributes:
        items: The config objects of this page, ordered by key.
        limit: The page size asked.
        offset: Objects skipped before this page.
        count: Number of objects in this page.
    """

    items: list[Any]
    limit: int
    offset: int
    count: int


class AuditPage(msgspec.Struct, frozen=True, kw_only=True):
    """Recorded config changes, newest first.

    Attributes:
        items: The audit entries, newest first.
    """

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
    """``PUT /v1/experiments/{key}/targeting``: the condition (``null`` = everyone).

    Attributes:
        targeting: The targeting condition (see docs/targeting.md); `null` targets everyone.
        reason: Why (recorded in the audit log).
    """

    targeting: Any = None
    reason: str = ""


class StatusChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/experiments/{key}/status``: a lifecycle action and why (audited).

    Attributes:
        action: The lifecycle action: `start`, `pause`, `resume`, `stop` or `archive`.
        reason: Why (recorded in the audit log).
    """

    action: Literal["start", "pause", "resume", "stop", "archive"]
    reason: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class ValidateRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/validate``: a whole bundle, or one object of a kind (dry run).

    Attributes:
        bundle: A whole config bundle to validate (same shape as the config file).
        kind: The kind of `object`, to validate one object.
        object: One config object of `kind`, checked against the current config.
    """

    bundle: dict[str, Any] | None = None
    kind: KindName | None = None
    object: dict[str, Any] | None = None


class ValidateResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Dry-run outcome: ``valid`` and every problem with its path.

    Attributes:
        valid: Whether the bundle or object is valid.
        errors: Every problem found, each `{path, message}`.
    """

    valid: bool
    errors: list[dict[str, str]]


class ExposureIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A client-logged exposure; ``exposure_id`` defaults to the standard de-dup key.

    Attributes:
        experiment: Experiment key the unit was exposed to.
        variant: Variant key it saw.
        unit_id: The exposed unit.
        exposed_at: When it was exposed (RFC 3339 with offset).
        unit_type: The unit's type.
        phase: Experiment phase at exposure (re-randomisations).
        config_version: Config version that assigned it (0: unknown).
        exposure_id: De-duplication id (default: derived from experiment, phase and unit).
    """

    experiment: Annotated[str, _ROW_ID]
    variant: Annotated[str, _ROW_ID]
    unit_id: Annotated[str, _ROW_UNIT_ID]
    exposed_at: datetime
    unit_type: Annotated[str, _ROW_UNIT_TYPE] = "user"
    phase: Annotated[int, _ROW_PHASE] = 1
    config_version: Annotated[int, _ROW_CONFIG_VERSION] = 0
    exposure_id: Annotated[str, _ROW_ID_OR_DEFAULT] | None = None


class EventIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A client event (conversion); ``event_id`` makes re-sending a no-op.

    Attributes:
        event_id: Client-chosen unique id: re-sending the same id is a no-op.
        unit_id: The unit the event belongs to.
        name: Event name metrics refer to (`purchase`).
        occurred_at: When it happened (RFC 3339 with offset).
        unit_type: The unit's type.
        value: Numeric value (revenue, duration...), for mean and ratio metrics.
        properties: Free-form properties kept with the event.
    """

    event_id: Annotated[str, _ROW_ID]
    unit_id: Annotated[str, _ROW_UNIT_ID]
    name: Annotated[str, _ROW_ID]
    occurred_at: datetime
    unit_type: Annotated[str, _ROW_UNIT_TYPE] = "user"
    value: float | None = None
    properties: dict[str, Any] | None = None


class EventsRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/events``: at most :data:`MAX_EVENT_ROWS` rows in total.

    Attributes:
        exposures: Exposures to append (client-side assignment).
        events: Events (conversions) to append.
    """

    exposures: Annotated[list[ExposureIn], msgspec.Meta(max_length=MAX_EVENT_ROWS)] = msgspec.field(
        default_factory=list
    )
    events: Annotated[list[EventIn], msgspec.Meta(max_length=MAX_EVENT_ROWS)] = msgspec.field(
        default_factory=list
    )


class EventsResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Counts of a durable append: new rows and duplicates (already stored ids).

    Attributes:
        exposures_accepted: New exposures stored.
        exposures_duplicates: Exposures already stored (same id), ignored.
        events_accepted: New events stored.
        events_duplicates: Events already stored (same `event_id`), ignored.
    """

    exposures_accepted: int
    exposures_duplicates: int
    events_accepted: int
    events_duplicates: int


class FlagEvaluateRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/flags/evaluate``: one unit's context; optionally only some flags.

    Attributes:
        unit_id: The unit (needed by percentage splits and experiments).
        unit_type: What kind of unit it is.
        attributes: Targeting attributes of the unit.
        flags: Only these flag keys (default: every flag).
        log_exposure: Log exposures of flags driven by an experiment.
    """

    unit_id: UnitId | None = None
    unit_type: UnitType = "user"
    attributes: Attributes = msgspec.field(default_factory=dict)
    flags: Annotated[list[Key], msgspec.Meta(max_length=1000)] | None = None
    log_exposure: bool = True


class FlagEvaluateResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Every (or each named) flag's value for one unit.

    Attributes:
        config_version: Version of the config snapshot that evaluated.
        flags: The value of each flag, by key.
    """

    config_version: int
    flags: dict[str, FlagValue]


class SwitchRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/flags/{key}/kill`` and ``/revive``: why (audited).

    Attributes:
        reason: Why (recorded in the audit log).
    """

    reason: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class RolloutActionRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/rollouts/{key}/actions``.

    Attributes:
        action: `start`, `pause`, `resume`, `advance`, `complete` or `roll_back`.
        reason: Why (recorded in the audit log).
        units_seen: Units seen in the current step, so `advance` may pass a sample-held step.
    """

    action: Literal["start", "pause", "resume", "advance", "complete", "roll_back"]
    reason: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    units_seen: Annotated[int, msgspec.Meta(ge=0)] | None = None


class OfrepRequest(msgspec.Struct, frozen=True, kw_only=True):
    """OpenFeature Remote Evaluation Protocol request: ``{"context": {...}}``.

    The context's ``targetingKey`` is the unit id (OFREP's wire names are camelCase).

    Attributes:
        context: The OpenFeature evaluation context; `targetingKey` is the unit id.
    """

    context: dict[str, Any] = msgspec.field(default_factory=dict)


class OfrepSuccess(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """OFREP evaluation success.

    Attributes:
        key: The flag key.
        value: The value served.
        reason: OpenFeature reason (`TARGETING_MATCH`...).
        variant: The variation served.
        metadata: Extra data (abwb: the config version).
    """

    key: str
    value: Any
    reason: str
    variant: str | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class OfrepError(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """OFREP evaluation failure (``errorCode`` per the OpenFeature spec).

    Attributes:
        key: The flag key.
        error_code: OpenFeature error code (`FLAG_NOT_FOUND`...).
        error_details: What went wrong.
    """

    key: str
    error_code: str
    error_details: str


class OfrepBulkItem(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One flag of an OFREP bulk answer: success fields or ``errorCode`` + ``errorDetails``.

    Attributes:
        key: The flag key.
        value: The value served (success only).
        reason: OpenFeature reason (success only).
        variant: The variation served (success only).
        metadata: Extra data (success only).
        error_code: OpenFeature error code (failure only).
        error_details: What went wrong (failure only).
    """

    key: str
    value: Any | msgspec.UnsetType = msgspec.UNSET
    reason: str | msgspec.UnsetType = msgspec.UNSET
    variant: str | msgspec.UnsetType | None = msgspec.UNSET
    metadata: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    error_code: str | msgspec.UnsetType = msgspec.UNSET
    error_details: str | msgspec.UnsetType = msgspec.UNSET


class OfrepBulkResponse(msgspec.Struct, frozen=True, kw_only=True):
    """OFREP bulk evaluation: every flag's success or error.

    Attributes:
        flags: Every flag's success or error.
    """

    flags: list[OfrepBulkItem]


class HealthResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Service health: store, cache, config snapshot and exposure queue.

    Attributes:
        status: `ok`, or `degraded` when a store, the cache or the exposure log is down.
        config_version: Version of the config snapshot served.
        snapshot_age_s: Seconds since the snapshot was loaded or confirmed current.
        snapshot_error: Last snapshot refresh error (type only), if any.
        store: Config store probe: `ok`, `detail`, `kind`.
        cache: Cache probe: `ok`, `detail`, `kind`.
        exposures: Exposure log counters (queued, written, dropped by reason...).
        degradations: Assignment requests served degraded, by what was skipped.
    """

    status: Literal["ok", "degraded"]
    config_version: int
    snapshot_age_s: float
    snapshot_error: str | None
    store: dict[str, Any]
    cache: dict[str, Any]
    exposures: dict[str, Any]
    degradations: dict[str, int]


class LiveResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Liveness: the process is up and serving HTTP.

    Attributes:
        status: Always `ok` while the process serves HTTP.
    """

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
    """Readiness: 200 while assignment can be served (``ready`` or ``degraded``), else 503.

    Attributes:
        status: `ready`, `degraded` (serves, a dependency is down) or `not_ready` (503).
        degraded: The dependencies that failed their probe.
        config_version: Version of the config snapshot served.
        checks: Each probe's outcome by name (`store`, `cache`, `snapshot`).
    """

    status: Literal["ready", "degraded", "not_ready"]
    degraded: list[str]
    config_version: int
    checks: dict[str, ReadyCheck]
