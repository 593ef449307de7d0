"""Assignment routes: ``POST /v1/assign`` and ``POST /v1/assign/bulk``.

What belongs here: parsing an assignment request, asking the in-process snapshot
(never the store) through :class:`~abwb.assignment.StickyAssigner`, evaluating flags,
handing exposures to the background logger, and shaping the response.
"""

from typing import TYPE_CHECKING, Any

from litestar import Request, post
from litestar.params import JSONBody

from abwb.assignment.decision import Decision
from abwb.snapshot.holder import ConfigSnapshot
from api.routes.context import services_of
from api.schemas import (
    AssignRequest,
    AssignResponse,
    BulkAssignRequest,
    BulkAssignResponse,
    FlagValue,
)

if TYPE_CHECKING:
    from api.app import Services

__all__ = ["assign", "assign_bulk"]

_EXAMPLE = "Assign user-42 to every running experiment and evaluate every flag."


async def _assign_unit(
    services: "Services",
    snapshot: ConfigSnapshot,
    *,
    unit_id: str,
    unit_type: str,
    attributes: dict[str, Any],
    experiments: list[str] | None,
    log_exposure: bool,
    with_flags: bool,
) -> AssignResponse:
    now = services.clock()
    result = await services.sticky_assigner(snapshot).assign(
        unit_id, now=now, attributes=attributes, unit_type=unit_type, experiments=experiments
    )
    exposed: list[Decision] = list(result.decisions)
    flags: dict[str, FlagValue] = {}
    if with_flags and snapshot.flags is not None and experiments is None:
        for key, ev in snapshot.flags.evaluate_all(
            unit_id, attributes, now, unit_type=unit_type
        ).items():
            flags[key] = FlagValue(
                key=key,
                value=ev.value,
                variation=ev.variation,
                reason=str(ev.reason),
                error_code=None if ev.error_code is None else str(ev.error_code),
                detail=ev.detail,
            )
            if ev.decision is not None:
                exposed.append(ev.decision)
    if log_exposure:
        services.exposures.offer(
            exposed,
            unit_id=unit_id,
            unit_type=unit_type,
            config_version=result.config_version,
            now=now,
        )
    return AssignResponse(
        unit_id=unit_id,
        unit_type=unit_type,
        config_version=result.config_version,
        assignments=result.decisions,
        flags=flags,
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
    """Assign one unit to every (or the named) experiments."""
    services = services_of(request)
    return await _assign_unit(
        services,
        services.snapshot.current,
        unit_id=data.unit_id,
        unit_type=data.unit_type,
        attributes=data.attributes,
        experiments=data.experiments,
        log_exposure=data.log_exposure,
        with_flags=data.flags,
    )


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
    services = services_of(request)
    snapshot = services.snapshot.current
    results = [
        await _assign_unit(
            services,
            snapshot,
            unit_id=unit.unit_id,
            unit_type=unit.unit_type,
            attributes=unit.attributes,
            experiments=data.experiments,
            log_exposure=data.log_exposure,
            with_flags=data.flags,
        )
        for unit in data.units
    ]
    return BulkAssignResponse(config_version=snapshot.version, results=results)
