"""Assignment routes: ``POST /v1/assign`` and ``POST /v1/assign/bulk``.

What belongs here: parsing an assignment request, calling
:class:`abwb.serving.Serving` (which decides, evaluates flags and logs exposures) and
shaping the response. No rule about what is served or logged lives here.
"""

from typing import Any

from litestar import Request, post
from litestar.exceptions import ServiceUnavailableException
from litestar.params import JSONBody

from abwb.serving import UnitRequest, UnitResult
from api.routes.context import services_of
from api.schemas import (
    AssignRequest,
    AssignResponse,
    BulkAssignRequest,
    BulkAssignResponse,
    FlagValue,
)

__all__ = ["assign", "assign_bulk"]

_EXAMPLE = "Assign user-42 to every running experiment and evaluate every flag."


def _response(result: UnitResult) -> AssignResponse:
    return AssignResponse(
        unit_id=result.unit_id,
        unit_type=result.unit_type,
        config_version=result.config_version,
        assignments=result.decisions,
        flags={key: FlagValue.of(ev) for key, ev in result.flags.items()},
    )


@post(
    "/v1/assign",
    opt={"scope": "assign"},
    status_code=200,
    summary="Assign one unit",
    description=(
        "Every experiment's decision (variant, payload, reason) for one unit, plus every "
        "flag's value. Served from the in-process config snapshot; exposures of units "
        "placed in an experiment are logged asynchronously and de-duplicated. " + _EXAMPLE
    ),
    tags=["assignment"],
)
async def assign(request: Request[Any, Any, Any], data: JSONBody[AssignRequest]) -> AssignResponse:
    """Assign one unit to every (or the named) experiments.

    Raises:
        ServiceUnavailableException: more than ``ABWB_API_MAX_IN_FLIGHT`` requests are
            in flight (503 + ``Retry-After``; counted as ``assign_shed`` in /metrics).
    """
    services = services_of(request)
    gate = services.in_flight
    if not gate.try_enter():
        raise ServiceUnavailableException(
            f"overloaded: {gate.limit} assignment requests already in flight "
            "(ABWB_API_MAX_IN_FLIGHT); retry shortly",
            headers={"Retry-After": "1"},
        )
    try:
        result = await services.serving.assign(
            UnitRequest(data.unit_id, data.unit_type, data.attributes),
            experiments=data.experiments,
            log_exposure=data.log_exposure,
            with_flags=data.flags,
        )
    finally:
        gate.leave()
    return _response(result)


@post(
    "/v1/assign/bulk",
    opt={"scope": "assign"},
    status_code=200,
    summary="Assign up to 1,000 units",
    description="One assignment result per unit, in request order, from one config version.",
    tags=["assignment"],
)
async def assign_bulk(
    request: Request[Any, Any, Any], data: JSONBody[BulkAssignRequest]
) -> BulkAssignResponse:
    """Assign many units at once."""
    version, results = await services_of(request).serving.assign_many(
        [UnitRequest(u.unit_id, u.unit_type, u.attributes) for u in data.units],
        experiments=data.experiments,
        log_exposure=data.log_exposure,
        with_flags=data.flags,
    )
    return BulkAssignResponse(config_version=version, results=[_response(r) for r in results])
