"""Experiment-only routes: targeting (``GET``/``PUT``) and lifecycle status actions.

What belongs here: ``/v1/experiments/{key}/targeting`` and
``/v1/experiments/{key}/status``. The state machine itself is the pure
:func:`abwb.config.lifecycle.transition`; starting is refused with 409 and the
explanations when :func:`abwb.assignment.conflicts.check_can_start` finds overlaps.
"""

from typing import Any

from litestar import Request, Response, get, post, put
from litestar.params import JSONBody

from abwb.config.experiment import Experiment
from api.routes.config_objects import with_etag
from api.routes.context import (
    ConfigKey,
    IfMatch,
    actor_of,
    etag,
    expected_version,
    in_thread,
    services_of,
)
from api.schemas import StatusChange, TargetingBody

__all__ = ["change_status", "get_targeting", "put_targeting"]

Key = ConfigKey


@get(
    "/v1/experiments/{key:str}/targeting",
    opt={"scope": "read"},
    tags=["experiments"],
    summary="Get an experiment's targeting condition",
)
async def get_targeting(request: Request[Any, Any, Any], key: Key) -> Response[TargetingBody]:
    """The targeting condition (``null``: everyone) with the experiment's ETag."""
    exp: Experiment = await in_thread(services_of(request).config_store.get, "experiment", key)
    return Response(TargetingBody(targeting=exp.targeting), headers={"ETag": etag(exp.version)})


@put(
    "/v1/experiments/{key:str}/targeting",
    opt={"scope": "admin"},
    tags=["experiments"],
    summary="Replace an experiment's targeting condition",
    description="The condition is validated (grammar, segment references) before it is "
    "stored; every problem comes back with its path.",
)
async def put_targeting(
    request: Request[Any, Any, Any],
    key: Key,
    data: JSONBody[TargetingBody],
    if_match: IfMatch = None,
) -> Response[Experiment]:
    """Replace the targeting condition."""
    exp = await in_thread(
        services_of(request).changes.set_targeting,
        key,
        data.targeting,
        expected_version=expected_version(if_match, required=False),
        actor=actor_of(request),
        reason=data.reason,
    )
    return with_etag(exp)  # type: ignore[no-any-return]


@post(
    "/v1/experiments/{key:str}/status",
    opt={"scope": "admin"},
    tags=["experiments"],
    status_code=200,
    summary="Start, pause, resume, stop or archive an experiment",
    description="Illegal moves (e.g. pause a draft) are 409 with the allowed actions; "
    "start is 409 with every conflict when the experiment would overlap a running "
    "one on the same flag/surface. The reason is recorded in the audit log.",
)
async def change_status(
    request: Request[Any, Any, Any],
    key: Key,
    data: JSONBody[StatusChange],
    if_match: IfMatch = None,
) -> Response[Experiment]:
    """Apply a lifecycle action."""
    services = services_of(request)
    exp = await in_thread(
        services.changes.change_status,
        key,
        data.action,
        now=services.clock(),
        expected_version=expected_version(if_match, required=False),
        actor=actor_of(request),
        reason=data.reason,
    )
    return with_etag(exp)  # type: ignore[no-any-return]
