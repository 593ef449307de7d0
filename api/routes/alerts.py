"""``GET /v1/alerts``: the monitoring alerts (what ``abwb monitor`` raised), filtered and paged."""

from datetime import datetime
from typing import Annotated, Any

from litestar import Request, get
from litestar.exceptions import ValidationException
from litestar.params import FromQuery, QueryParameter

from abwb.monitoring.alerts import AlertKind, AlertStatus, list_alerts
from api.routes.config_objects import Limit, Offset
from api.routes.context import in_thread, services_of
from api.schemas import AlertPage

__all__ = ["alerts"]

_NO_OFFSET = (
    "expected an instant with a UTC offset (e.g. 2026-01-01T00:00:00Z), got {0:%Y-%m-%dT%H:%M:%S} "
    "with none"
)


@get(
    "/v1/alerts",
    opt={"scope": "read"},
    tags=["monitoring"],
    summary="List monitoring alerts",
    description=(
        "Alerts raised by `abwb monitor`, newest opened first. `experiment` matches "
        "rollout keys too; `since` keeps the alerts opened or resolved at or after that "
        "instant (RFC 3339 with an offset, e.g. `2026-01-01T00:00:00Z`), which is how a "
        "poller asks for what changed. Page with `limit` and `offset` (`next_offset`)."
    ),
)
async def alerts(
    request: Request[Any, Any, Any],
    experiment: Annotated[
        str | None,
        QueryParameter(max_length=64, description="Experiment or rollout key."),
    ] = None,
    status: FromQuery[AlertStatus | None] = None,
    kind: FromQuery[AlertKind | None] = None,
    since: Annotated[
        datetime | None,
        QueryParameter(description="Opened or resolved at or after this instant (with offset)."),
    ] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> AlertPage:
    """One page of alerts; a full page probes one row further to know whether more exist."""
    if since is not None and since.utcoffset() is None:
        raise ValidationException(
            extra=[{"key": "since", "source": "query", "message": _NO_OFFSET.format(since)}]
        )
    store = services_of(request).alerts
    filters: dict[str, Any] = {
        "status": status, "experiment": experiment, "kind": kind, "since": since
    }
    rows = await in_thread(list_alerts, store, **filters, limit=limit, offset=offset)
    more = len(rows) == limit and bool(
        await in_thread(list_alerts, store, **filters, limit=1, offset=offset + limit)
    )
    return AlertPage(items=rows, next_offset=offset + limit if more else None)
