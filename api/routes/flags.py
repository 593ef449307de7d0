"""Flag routes: evaluation, the kill switch, rollout actions, and OpenFeature's OFREP.

What belongs here: ``POST /v1/flags/evaluate``, ``POST /v1/flags/{key}/kill`` and
``/revive``, ``POST /v1/rollouts/{key}/actions``, and the OpenFeature Remote
Evaluation Protocol (``POST /ofrep/v1/evaluate/flags/{key}`` and the bulk
``POST /ofrep/v1/evaluate/flags``) so any OpenFeature SDK can use abwb as its provider.
Flag CRUD is the generic :mod:`api.routes.config_objects`. Evaluation is
:class:`abwb.serving.Serving` on the in-process snapshot; it never raises on a bad flag.
"""

from typing import Any

from litestar import Request, Response, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody

from abwb.config.flag import Flag
from abwb.config.rollout import Rollout
from abwb.flags.evaluation import ErrorCode, FlagEvaluation
from api.routes.config_objects import with_etag
from api.routes.context import (
    ConfigKey,
    IfMatch,
    actor_of,
    expected_version,
    in_thread,
    services_of,
)
from api.schemas import (
    FlagEvaluateRequest,
    FlagEvaluateResponse,
    FlagValue,
    OfrepBulkItem,
    OfrepBulkResponse,
    OfrepError,
    OfrepRequest,
    OfrepSuccess,
    RolloutActionRequest,
    SwitchRequest,
)

__all__ = [
    "evaluate_flags",
    "kill_flag",
    "ofrep_bulk",
    "ofrep_one",
    "revive_flag",
    "rollout_action",
]

Key = ConfigKey


@post(
    "/v1/flags/evaluate",
    opt={"scope": "assign"},
    status_code=200,
    tags=["flags"],
    summary="Evaluate flags for one unit",
    description="Every flag (or the named ones) for one unit: value, variation, reason. "
    "Never fails on a bad flag: unknown flags come back with error_code FLAG_NOT_FOUND.",
)
async def evaluate_flags(
    request: Request[Any, Any, Any], data: JSONBody[FlagEvaluateRequest]
) -> FlagEvaluateResponse:
    """Evaluate flags."""
    result = services_of(request).serving.evaluate_flags(
        data.unit_id,
        data.attributes,
        unit_type=data.unit_type,
        flags=data.flags,
        log_exposure=data.log_exposure,
    )
    return FlagEvaluateResponse(
        config_version=result.config_version,
        flags={k: FlagValue.of(ev) for k, ev in result.flags.items()},
    )


async def _switch(request: Request[Any, Any, Any], key: str, killed: bool, reason: str) -> Any:
    flag = await in_thread(
        services_of(request).changes.set_killed, key, killed, actor=actor_of(request), reason=reason
    )
    return with_etag(flag)


@post(
    "/v1/flags/{key:str}/kill",
    opt={"scope": "admin"},
    status_code=200,
    tags=["flags"],
    summary="Kill switch: serve the off variation to everyone",
    description="Effective in this process immediately, in others at their next config "
    "refresh. Idempotent. The reason is audited.",
)
async def kill_flag(
    request: Request[Any, Any, Any], key: Key, data: JSONBody[SwitchRequest]
) -> Response[Flag]:
    """Pull the kill switch."""
    return await _switch(request, key, True, data.reason)  # type: ignore[no-any-return]


@post(
    "/v1/flags/{key:str}/revive",
    opt={"scope": "admin"},
    status_code=200,
    tags=["flags"],
    summary="Release the kill switch",
    description="Rules, rollouts and default apply again.",
)
async def revive_flag(
    request: Request[Any, Any, Any], key: Key, data: JSONBody[SwitchRequest]
) -> Response[Flag]:
    """Release the kill switch."""
    return await _switch(request, key, False, data.reason)  # type: ignore[no-any-return]


@post(
    "/v1/rollouts/{key:str}/actions",
    opt={"scope": "admin"},
    status_code=200,
    tags=["rollouts"],
    summary="Start, pause, resume, advance, complete or roll back",
    description="Illegal moves are 409. `units_seen` lets `advance` pass a sample-held "
    "step. The reason is audited.",
)
async def rollout_action(
    request: Request[Any, Any, Any],
    key: Key,
    data: JSONBody[RolloutActionRequest],
    if_match: IfMatch = None,
) -> Response[Rollout]:
    """Take a rollout action."""
    services = services_of(request)
    rollout = await in_thread(
        services.changes.rollout_action,
        key,
        data.action,
        now=services.clock(),
        expected_version=expected_version(if_match, required=False),
        actor=actor_of(request),
        reason=data.reason,
        units_seen=data.units_seen,
    )
    return with_etag(rollout)  # type: ignore[no-any-return]


def _ofrep(ev: FlagEvaluation) -> OfrepSuccess | OfrepError:
    if ev.error_code is not None:
        return OfrepError(key=ev.flag, error_code=str(ev.error_code), error_details=ev.detail)
    reason = "DISABLED" if str(ev.reason) == "PREREQUISITE_FAILED" else str(ev.reason)
    metadata: dict[str, Any] = {"config_version": ev.config_version}
    if ev.rule is not None:
        metadata["rule"] = ev.rule
    if ev.rollout is not None:
        metadata["rollout"] = ev.rollout
    return OfrepSuccess(
        key=ev.flag, value=ev.value, reason=reason, variant=ev.variation, metadata=metadata
    )


def _context(data: OfrepRequest) -> tuple[Any, dict[str, Any]]:
    attributes = dict(data.context)
    return attributes.pop("targetingKey", None), attributes


@post(
    "/ofrep/v1/evaluate/flags/{key:str}",
    opt={"scope": "assign"},
    status_code=200,
    tags=["openfeature"],
    summary="OFREP: evaluate one flag",
    description="OpenFeature Remote Evaluation Protocol. The context's `targetingKey` is "
    "the unit id; the rest are attributes. 404 FLAG_NOT_FOUND, 400 for other errors.",
    responses={
        404: ResponseSpec(
            data_container=OfrepError,
            generate_examples=False,
            description="FLAG_NOT_FOUND (OFREP error body)",
        )
    },
)
async def ofrep_one(
    request: Request[Any, Any, Any], key: Key, data: JSONBody[OfrepRequest]
) -> Response[OfrepSuccess]:
    """Evaluate one flag (OFREP)."""
    unit_id, attributes = _context(data)
    ev = services_of(request).serving.evaluate_flag(key, unit_id, attributes)
    body = _ofrep(ev)
    if isinstance(body, OfrepError):
        status = 404 if ev.error_code == ErrorCode.FLAG_NOT_FOUND else 400
        return Response(body, status_code=status)  # type: ignore[arg-type]
    return Response(body)


@post(
    "/ofrep/v1/evaluate/flags",
    opt={"scope": "assign"},
    status_code=200,
    tags=["openfeature"],
    summary="OFREP: evaluate every flag",
    description="Bulk evaluation; each flag is a success or an error entry.",
)
async def ofrep_bulk(
    request: Request[Any, Any, Any], data: JSONBody[OfrepRequest]
) -> OfrepBulkResponse:
    """Evaluate every flag (OFREP)."""
    unit_id, attributes = _context(data)
    result = services_of(request).serving.evaluate_flags(unit_id, attributes)
    return OfrepBulkResponse(flags=[_bulk_item(_ofrep(ev)) for ev in result.flags.values()])


def _bulk_item(one: OfrepSuccess | OfrepError) -> OfrepBulkItem:
    if isinstance(one, OfrepError):
        return OfrepBulkItem(
            key=one.key, error_code=one.error_code, error_details=one.error_details
        )
    return OfrepBulkItem(
        key=one.key, value=one.value, reason=one.reason, variant=one.variant, metadata=one.metadata
    )
