"""``GET /v1/alerts``: the monitoring alerts (what ``abwb monitor`` raised), filtered and paged."""

import re
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

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})")


def _instant(text: str) -> datetime:
    """``since`` as an aware datetime (RFC 3339 with an offset), else a 400 naming it."""
    try:
        if not _RFC3339.fullmatch(text):
            raise ValueError(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValidationException(
            extra=[
                {
                    "key": "since",
                    "source": "query",
                    "message": "expected an RFC 3339 instant with an offset "
                    f"(e.g. 2026-01-01T00:00:00Z), got {text[:40]!r}",
                }
            ]
        ) from None


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
        str | None,
        QueryParameter(
            max_length=64,
            description="Opened or resolved at or after this instant (RFC 3339, with offset).",
            schema_extra={"format": "date-time"},
        ),
    ] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> AlertPage:
    """One page of alerts; a full page probes one row further to know whether more exist."""
    since_at = None if since is None else _instant(since)
    store = services_of(request).alerts
    filters: dict[str, Any] = {
        "status": status, "experiment": experiment, "kind": kind, "since": since_at
    }
    rows = await in_thread(list_alerts, store, **filters, limit=limit, offset=offset)
    more = len(rows) == limit and bool(
        await in_thread(list_alerts, store, **filters, limit=1, offset=offset + limit)
    )
    return AlertPage(items=rows, next_offset=offset + limit if more else None)
