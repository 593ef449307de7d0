"""Assignment routes: ``POST /v1/assign`` and ``POST /v1/assign/bulk``.

What belongs here: parsing an assignment request, calling
:class:`abwb.serving.Serving` (which decides, evaluates flags and logs exposures) and
shaping the response — once, in :func:`assign_one` and :func:`assign_units`. The
hot path (:mod:`api.hot_path`) serves well-formed requests to these two routes straight
from ASGI through those functions; the Litestar handlers below declare the routes
(scope, OpenAPI) and serve every request the hot path hands on (a body that fails
validation, a refused key...), so errors keep the one shape of :mod:`api.errors`.
No rule about what is served or logged lives here.
"""

from typing import Any

from litestar import Request, post
from litestar.params import JSONBody

from abwb.serving import Serving, UnitRequest, UnitResult
from api.routes.context import services_of
from api.schemas import (
    AssignRequest,
    AssignResponse,
    BulkAssignRequest,
    BulkAssignResponse,
    FlagValue,
)

__all__ = ["assign", "assign_bulk", "assign_one", "assign_units"]

_EXAMPLE = "Assign user-42 to every running experiment and evaluate every flag."


def _response(result: UnitResult) -> AssignResponse:
    return AssignResponse(
        unit_id=result.unit_id,
        unit_type=result.unit_type,
        config_version=result.config_version,
        assignments=result.decisions,
        flags={key: FlagValue.of(ev) for key, ev in result.flags.items()} if result.flags else {},
    )


async def assign_one(serving: Serving, data: AssignRequest) -> AssignResponse:
    """Serve one ``POST /v1/assign`` body.

    Args:
        serving: The serving use case.
        data: The validated request.

    Returns:
        The response body.

    Raises:
        InvalidInput: an unknown experiment is named, or the unit id cannot be logged.
        StorageError: no snapshot is loaded yet.
    """
    result = await serving.assign(
        UnitRequest(data.unit_id, data.unit_type, data.attributes),
        experiments=data.experiments,
        log_exposure=data.log_exposure,
        with_flags=data.flags,
    )
    return _response(result)


async def assign_units(serving: Serving, data: BulkAssignRequest) -> BulkAssignResponse:
    """Serve one ``POST /v1/assign/bulk`` body (every unit from one snapshot).

    Args:
        serving: The serving use case.
        data: The validated request.

    Returns:
        The response body.

    Raises:
        InvalidInput: an unknown experiment is named, or a unit id cannot be logged.
        StorageError: no snapshot is loaded yet.
    """
    version, results = await serving.assign_many(
        [UnitRequest(u.unit_id, u.unit_type, u.attributes) for u in data.units],
        experiments=data.experiments,
        log_exposure=data.log_exposure,
        with_flags=data.flags,
    )
    return BulkAssignResponse(config_version=version, results=[_response(r) for r in results])


@post(
    "/v1/assign",
    opt={"scope": "assign"},
    status_code=200,
    summary="Assign one unit",
    description=(
        "Every experiment's decision (variant, payload, reason) for one unit, plus every "
        "flag's value. Served from the in-process config snapshot; exposures of units "
        "placed in an experiment are logged asynchronously and de-duplicated. Over "
        "`ABWB_API_MAX_IN_FLIGHT` assignment requests in flight the service sheds with "
        "503 + `Retry-After`. " + _EXAMPLE
    ),
    tags=["assignment"],
)
async def assign(request: Request[Any, Any, Any], data: JSONBody[AssignRequest]) -> AssignResponse:
    """Assign one unit to every (or the named) experiments."""
    return await assign_one(services_of(request).serving, data)


@post(
    "/v1/assign/bulk",
    opt={"scope": "assign"},
    status_code=200,
    summary="Assign up to 1,000 units",
    description=(
        "One assignment result per unit, in request order, from one config version. "
        "Decided in chunks that let single assignments through in between."
    ),
    tags=["assignment"],
)
async def assign_bulk(
    request: Request[Any, Any, Any], data: JSONBody[BulkAssignRequest]
) -> BulkAssignResponse:
    """Assign many units at once."""
    return await assign_units(services_of(request).serving, data)
