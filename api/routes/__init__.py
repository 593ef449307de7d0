"""Route handlers of the HTTP API, one module per resource; ``ROUTE_HANDLERS`` lists them."""

from api.errors import document_problems
from api.routes.alerts import alerts
from api.routes.assign import assign, assign_bulk
from api.routes.audit import audit
from api.routes.config_objects import PLURALS, object_routes
from api.routes.events import ingest_events
from api.routes.experiments import change_status, get_targeting, put_targeting
from api.routes.flags import (
    evaluate_flags,
    kill_flag,
    ofrep_bulk,
    ofrep_one,
    revive_flag,
    rollout_action,
)
from api.routes.health import health, live, ready
from api.routes.prometheus import metrics
from api.routes.validate import validate

__all__ = ["ROUTE_HANDLERS"]

ROUTE_HANDLERS = [
    document_problems(handler)
    for handler in (
        assign,
        assign_bulk,
        evaluate_flags,
        *(handler for kind in PLURALS for handler in object_routes(kind)),
        get_targeting,
        put_targeting,
        change_status,
        kill_flag,
        revive_flag,
        rollout_action,
        ofrep_one,
        ofrep_bulk,
        validate,
        audit,
        alerts,
        ingest_events,
        health,
        live,
        ready,
        metrics,
    )
]
