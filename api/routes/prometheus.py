"""``GET /metrics`` (``read``): the service's counters in the Prometheus text format.

What belongs here: the mapping of the service counters (config snapshot, exposure log,
degradations of the assignment path, key ring, rate limiter) to Prometheus metric
families. The numbers are read from :class:`~api.app.Services` at scrape time by a
custom collector registered in a registry of the application (created on the first
scrape, kept in the app's state): nothing is registered at import time and nothing
touches ``prometheus_client``'s global default registry, so two apps in one process
never mix their numbers.
"""

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from abwb.assignment.sticky import degradations
from api.routes.context import services_of
from api.worker_metrics import STATE_KEY as WORKERS_KEY
from api.worker_metrics import MergedCollector

if TYPE_CHECKING:
    from api.app import Services

__all__ = ["MEDIA_TYPE", "ServiceCollector", "metrics", "registry_of"]

#: Exposure-log counters exported as ``abwb_exposures_<name>_total``.
_EXPOSURE_COUNTERS = {
    "offered": "Exposures offered to the log by assignment.",
    "written": "Exposures written to the event store.",
    "duplicates": "Exposures not written again (already logged for the unit).",
    "batches": "Batches written to the event store.",
    "retries": "Batch writes retried after a store error.",
    "dedup_degraded": "Exposures logged without de-duplication (the cache was down).",
    "spooled": "Exposures written to the local spool (store down, or behind the traffic).",
    "spooled_backlog": "Exposures spooled because the store was behind the traffic.",
    "delivered_from_spool": "Spooled exposures delivered to the store later.",
    "lost_previous_run": "Exposures a crashed previous run could not deliver.",
}
_DROP_PREFIX = "dropped_"
_STATE_KEY = "prometheus_registry"
#: The classic text format every Prometheus scrapes (Litestar appends the charset).
MEDIA_TYPE = "text/plain; version=0.0.4"


class ServiceCollector(Collector):
    """Reads one application's counters at each scrape.

    Args:
        services: The application's services.
    """

    def __init__(self, services: "Services") -> None:
        self._services = services

    def collect(self) -> Iterator[Metric]:
        """The metric families, with the values of this instant."""
        services = self._services
        snapshot = services.snapshot
        yield _gauge("abwb_config_version", "Version of the config snapshot served.",
                     snapshot.current.version)
        yield _gauge("abwb_config_snapshot_age_seconds",
                     "Seconds since the snapshot was loaded or confirmed current.", snapshot.age_s)
        yield _counter("abwb_config_snapshot_refreshes", "Snapshot reloads from the store.",
                       snapshot.refreshes)
        stats = services.exposures.stats()
        yield _gauge("abwb_exposures_queued", "Exposures waiting in the in-process queue.",
                     _number(stats.get("queued")))
        yield _gauge("abwb_exposure_log_running", "1 while the exposure flusher runs.",
                     1 if stats.get("running") else 0)
        for name, help_text in _EXPOSURE_COUNTERS.items():
            yield _counter(f"abwb_exposures_{name}", help_text, _number(stats.get(name)))
        dropped = CounterMetricFamily(
            "abwb_exposures_dropped", "Exposures dropped, by reason.", labels=["reason"]
        )
        for key, value in stats.items():
            if key.startswith(_DROP_PREFIX):
                dropped.add_metric([key.removeprefix(_DROP_PREFIX)], _number(value))
        yield dropped
        yield _labelled(
            "abwb_degradations", "Assignment requests served degraded, by what was skipped.",
            "kind", dict(degradations),
        )
        flight = services.in_flight.counters()
        yield _gauge("abwb_assign_in_flight_limit",
                     "Assignment requests allowed in flight (0: unlimited).", flight["limit"])
        yield _gauge("abwb_assign_in_flight", "Assignment requests in flight now.",
                     flight["in_flight"])
        yield _gauge("abwb_assign_in_flight_peak", "Most assignment requests in flight at once.",
                     flight["peak"])
        yield _counter("abwb_assign_admitted", "Assignment requests admitted.", flight["admitted"])
        yield _counter(
            "abwb_assign_shed",
            "Assignment requests shed with 503 (in-flight limit, exposure log saturated).",
            flight["shed"],
        )
        yield _counter(
            "abwb_assign_shed_exposures",
            "Of those, shed because the exposure log could not keep up.",
            flight["shed_exposures"],
        )
        ring_counters = getattr(services.auth.keys, "counters", None)
        if isinstance(ring_counters, dict):
            yield _labelled("abwb_api_key_ring_events", "API key ring reloads and failures.",
                            "event", dict(ring_counters))
        limiter_counters = getattr(services.auth.limiter, "counters", None)
        if isinstance(limiter_counters, dict):
            yield _labelled("abwb_rate_limit_events", "Shared rate limiter events, by kind.",
                            "event", dict(limiter_counters))


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, value=value)


def _counter(name: str, help_text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, help_text, value=value)


def _labelled(name: str, help_text: str, label: str, values: dict[str, Any]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, help_text, labels=[label])
    for key in sorted(values):
        family.add_metric([str(key)], _number(values[key]))
    return family


def registry_of(request: Request[Any, Any, Any]) -> CollectorRegistry:
    """The application's registry (created with its collector on the first scrape)."""
    state = request.app.state
    registry = state.get(_STATE_KEY)
    if registry is None:
        registry = CollectorRegistry(auto_describe=False)
        collector: Collector = ServiceCollector(services_of(request))
        workers = state.get(WORKERS_KEY)
        if workers is not None:  # one of `abwb serve --workers N`: answer for them all
            collector = MergedCollector(collector, workers)
        registry.register(collector)
        state[_STATE_KEY] = registry
    return registry


@get(
    "/metrics",
    opt={"scope": "read"},
    tags=["operations"],
    summary="Service counters (Prometheus)",
    description=(
        "The counters of /v1/health in the Prometheus text exposition format (0.0.4): "
        "config snapshot, exposure log (with drops by reason), degradations of the "
        "assignment path, key ring and rate limiter events."
    ),
    media_type=MEDIA_TYPE,
    responses={
        200: ResponseSpec(
            data_container=str,
            media_type=MEDIA_TYPE,
            description="Prometheus text format",
            examples=None,
        )
    },
)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The metric families of this application."""
    body = generate_latest(registry_of(request))
    return Response(body, media_type=MEDIA_TYPE)
