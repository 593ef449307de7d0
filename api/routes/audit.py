"""``GET /v1/audit``: who changed which config object, when, why, before and after."""

from typing import Annotated, Any, Literal

from litestar import Request, get
from litestar.params import FromQuery, QueryParameter

from api.routes.context import in_thread, services_of
from api.schemas import AuditPage

__all__ = ["audit"]

KindName = Literal["experiment", "segment", "layer", "holdout", "flag", "rollout", "metric"]


@get(
    "/v1/audit",
    opt={"scope": "read"},
    tags=["configuration"],
    summary="Audit log",
    description="Recorded config changes, newest first, optionally for one kind/key.",
)
async def audit(
    request: Request[Any, Any, Any],
    kind: FromQuery[KindName | None] = None,
    key: Annotated[str | None, QueryParameter(max_length=64)] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
) -> AuditPage:
    """Recorded changes."""
    store = services_of(request).config_store
    return AuditPage(items=await in_thread(store.audit, kind=kind, key=key, limit=limit))
