"""``GET /v1/health`` (public) and ``GET /metrics`` (scope ``read``).

What belongs here: probing the store and the cache, and reporting the config
snapshot (version, age, last refresh error), the exposure queue counters (including
drops) and the degradation counters of the assignment path.
"""

import asyncio
from typing import Any

from litestar import Request, get

from abwb.assignment.sticky import degradations
from abwb.errors import AbwbError
from api.routes.context import in_thread, services_of
from api.schemas import HealthResponse

__all__ = ["health", "metrics"]

#: Longest a health probe may take before the component is reported down.
PROBE_TIMEOUT_S = 2.0


async def _probe(coro: Any) -> dict[str, Any]:
    try:
        await asyncio.wait_for(coro, PROBE_TIMEOUT_S)
    except (AbwbError, TimeoutError) as exc:
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "detail": ""}


async def _health(request: Request[Any, Any, Any]) -> HealthResponse:
    services = services_of(request)
    store = await _probe(in_thread(services.config_store.config_version))
    cache = await _probe(services.cache.get_sticky("health", "probe"))
    cache["kind"] = type(services.cache).__name__
    store["kind"] = type(services.config_store).__name__
    exposures = services.exposures.stats()
    healthy = store["ok"] and cache["ok"] and exposures["running"]
    return HealthResponse(
        status="ok" if healthy else "degraded",
        config_version=services.snapshot.current.version,
        snapshot_age_s=round(services.snapshot.age_s, 3),
        snapshot_error=services.snapshot.last_error,
        store=store,
        cache=cache,
        exposures=exposures,
        degradations=dict(degradations),
    )


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
    return flat
