"""``POST /v1/validate``: dry-run validation of a whole bundle or of one object.

What belongs here: turning a config document into the list of every problem with its
path, without writing anything. Invalid config is a normal answer here (200 with
``valid: false``), not an error.
"""

from typing import Any

from litestar import Request, post
from litestar.params import JSONBody

from abwb.changes import problems_of
from abwb.config.bundle import ConfigBundle
from abwb.errors import InvalidInput, Problem
from api.routes.context import in_thread, services_of
from api.schemas import ValidateRequest, ValidateResponse

__all__ = ["validate"]


def _response(problems: list[Problem]) -> ValidateResponse:
    return ValidateResponse(
        valid=not problems, errors=[{"path": p.path, "message": p.message} for p in problems]
    )


@post(
    "/v1/validate",
    opt={"scope": "read"},
    status_code=200,
    tags=["configuration"],
    summary="Validate a bundle or one object (dry run)",
    description="Send `bundle` (a config-as-code document) or `kind` + `object`. An "
    "object is also checked against the stored config (unknown layer, metric, ...). "
    "Returns 200 with `valid` and every problem with its path; nothing is written.",
)
async def validate(
    request: Request[Any, Any, Any], data: JSONBody[ValidateRequest]
) -> ValidateResponse:
    """Validate without writing."""
    if (data.bundle is None) == (data.object is None):
        raise InvalidInput("send either 'bundle', or 'kind' and 'object'", path="")
    if data.bundle is not None:
        try:
            ConfigBundle.from_data(data.bundle)
        except InvalidInput as exc:
            return _response(exc.problems)
        return _response([])
    if data.kind is None:
        raise InvalidInput("required with 'object'", path="kind")
    obj, problems = problems_of(data.kind, data.object)
    if obj is None:
        return _response(problems)
    try:
        await in_thread(services_of(request).changes.check_against_config, data.kind, obj.key, obj)
    except InvalidInput as exc:
        return _response(exc.problems)
    return _response([])
