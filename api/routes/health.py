"""``GET /health``, ``GET /ready``, ``GET /v1/health`` (public) and ``GET /metrics`` (``read``).

What belongs here: probing the store and the cache, and reporting the config
snapshot (version, age, last refresh error), the exposure queue counters (including
drops) and the degradation counters of the assignment path. ``/health`` is liveness
(the process answers); ``/ready`` is readiness for a load balancer and means "can
serve assignment": 200 while a config snapshot is loaded and younger than
``ApiSettings.ready_max_snapshot_age_s``, even when the store or the cache is down
(assignment serves from the snapshot; those are named in ``degraded``), 503 only when
the snapshot is missing or stale. Probe failures are reported by exception type only:
no connection details (URL, user, host, database) appear in any response; the full
cause is in the service log.
"""

import asyncio
import logging
from typing import Any, Literal

from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec

from abwb.assignment.sticky import degradations
from abwb.errors import AbwbError
from api.routes.context import in_thread, services_of
from api.schemas import HealthResponse, LiveResponse, ReadyCheck, ReadyResponse

__all__ = ["health", "live", "metrics", "public_error", "ready"]

log = logging.getLogger(__name__)

#: Longest a health probe may take before the component is reported down.
PROBE_TIMEOUT_S = 2.0


async def _probe(coro: Any, what: str) -> dict[str, Any]:
    try:
        await asyncio.wait_for(coro, PROBE_TIMEOUT_S)
    except (AbwbError, TimeoutError) as exc:
        log.info("%s probe failed: %s: %s", what, type(exc).__name__, exc)
        return {"ok": False, "detail": f"{type(exc).__name__}: {what} does not answer"}
    return {"ok": True, "detail": ""}


def public_error(error: str | None) -> str | None:
    """An error for a response: its type only (messages can carry connection details).

    Examples:
        >>> public_error("StorageError: cannot connect to postgresql://u@db:5432/x")
        'StorageError (details in the service log)'
    """
    if error is None:
        return None
    return f"{error.split(':', 1)[0]} (details in the service log)"


async def _health(request: Request[Any, Any, Any]) -> HealthResponse:
    services = services_of(request)
    store = await _probe(in_thread(services.config_store.config_version), "the config store")
    cache = await _probe(services.cache.get_sticky("health", "probe"), "the cache")
    cache["kind"] = type(services.cache).__name__
    store["kind"] = type(services.config_store).__name__
    exposures = services.exposures.stats()
    exposures["last_error"] = public_error(exposures.get("last_error"))  # type: ignore[arg-type]
    healthy = store["ok"] and cache["ok"] and exposures["running"]
    return HealthResponse(
        status="ok" if healthy else "degraded",
        config_version=services.snapshot.current.version,
        snapshot_age_s=round(services.snapshot.age_s, 3),
        snapshot_error=public_error(services.snapshot.last_error),
        store=store,
        cache=cache,
        exposures=exposures,
        degradations=dict(degradations),
    )


@get(
    "/health",
    tags=["operations"],
    summary="Liveness",
    description="200 as long as the process serves HTTP. Needs no key.",
)
async def live() -> LiveResponse:
    """The process is up."""
    return LiveResponse()


@get(
    "/ready",
    tags=["operations"],
    summary="Readiness",
    description="Can this process serve assignment? 200 while a config snapshot is "
    "loaded and younger than the limit, also when the store or the cache is down "
    "(`status` is then `degraded` and `degraded` names `store` / `cache`); 503 "
    "(`not_ready`) when the snapshot is missing or stale. `checks` gives details and "
    "ages. Needs no key.",
    responses={503: ResponseSpec(data_container=ReadyResponse, description="Not ready")},
)
async def ready(request: Request[Any, Any, Any]) -> Response[ReadyResponse]:
    """Readiness of the service and its dependencies."""
    services = services_of(request)
    store, cache = await asyncio.gather(
        _probe(in_thread(services.config_store.config_version), "the config store"),
        _probe(services.cache.get_sticky("ready", "probe"), "the cache"),
    )
    max_age = services.options.ready_max_snapshot_age_s or None
    age = services.snapshot_age_s()
    fresh = max_age is None or age <= max_age
    snapshot_detail = public_error(services.snapshot.last_error) or ""
    if not fresh:
        snapshot_detail = f"snapshot is {age:.1f} s old (limit {max_age:g} s)" + (
            f"; last refresh failed: {snapshot_detail}" if snapshot_detail else ""
        )
    checks = {
        "store": ReadyCheck(
            ok=store["ok"], detail=store["detail"], kind=type(services.config_store).__name__
        ),
        "cache": ReadyCheck(
            ok=cache["ok"], detail=cache["detail"], kind=type(services.cache).__name__
        ),
        "snapshot": ReadyCheck(
            ok=fresh,
            detail=snapshot_detail,
            kind="ConfigSnapshot",
            age_s=round(age, 3) if age != float("inf") else None,
            max_age_s=max_age,
        ),
    }
    degraded = [name for name, check in checks.items() if not check.ok]
    serving = fresh and services.snapshot.version >= 0
    status: Literal["ready", "degraded", "not_ready"] = (
        "not_ready" if not serving else "degraded" if degraded else "ready"
    )
    body = ReadyResponse(
        status=status,
        degraded=degraded,
        config_version=services.snapshot.version,
        checks=checks,
    )
    return Response(body, status_code=200 if serving else 503)


@get(
    "/v1/health",
    tags=["operations"],
    summary="Service health",
    description="Store and cache probes, config snapshot version and age, exposure queue "
    "counters (drops included). 200 even when degraded: assignment keeps serving from "
    "the snapshot; read `status`.",
)
async def health(request: Request[Any, Any, Any]) -> HealthResponse:
    """Health of the service and its dependencies."""
    return await _health(request)


@get(
    "/metrics",
    opt={"scope": "read"},
    tags=["operations"],
    summary="Service counters",
    description="The counters of /v1/health as flat JSON (for scraping).",
)
async def metrics(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Flat counters."""
    services = services_of(request)
    flat: dict[str, Any] = {
        "config_version": services.snapshot.current.version,
        "snapshot_age_s": round(services.snapshot.age_s, 3),
        "snapshot_refreshes": services.snapshot.refreshes,
    }
    flat.update(
        {
            f"exposures_{k}": v
            for k, v in services.exposures.stats().items()
            if isinstance(v, int | float)
        }
    )
    flat.update({f"degraded_{k}": v for k, v in degradations.items()})
    flat.update({f"assign_{k}": v for k, v in services.in_flight.counters().items()})
    limiter_counters = getattr(services.auth.limiter, "counters", None)
    if limiter_counters is not None:
        flat.update({f"rate_limit_{k}": v for k, v in limiter_counters.items()})
    return flat
