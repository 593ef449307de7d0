"""The Litestar application factory: choose adapters, wire services, install routes.

What belongs here: :func:`create_app` and :class:`Services`, the per-process object
every route reaches through ``state.services`` (stores, cache, config snapshot, the
serving use case, exposure log, authenticator, clock). This is the only place in
``api/`` that picks implementations: memory adapters when given (tests), else
``open_stores(settings)`` and Redis when ``settings.cache.redis_url`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
from litestar import Litestar, Request, Response
from litestar.logging.config import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from abwb.access.key_ring import ApiKeyRing
from abwb.access.keys import ApiKey, ApiKeyStore, hash_secret
from abwb.access.stores import api_key_store_for
from abwb.cache.memory import MemoryAssignmentCache
from abwb.cache.protocol import AssignmentCache
from abwb.changes import ConfigChanges
from abwb.errors import AbwbError, CacheError, StorageError
from abwb.events.exposure_log import ExposureLog
from abwb.events.spool import ExposureSpool
from abwb.monitoring.alerts import AlertStore, MemoryAlertStore
from abwb.serving import InFlightLimit, Serving
from abwb.serving.deferred_stores import DeferredStores
from abwb.serving.log_limit import RepeatedWarningFilter
from abwb.settings import ApiSettings, Settings
from abwb.snapshot.fanout import ConfigWatcher, PublishingConfigStore, RedisConfigPublisher
from abwb.snapshot.holder import ConfigSnapshotHolder
from abwb.store.alerts import SqlAlertStore
from abwb.store.config_objects import SqlConfigStore
from abwb.store.dialect import SqlDatabase
from abwb.store.protocol import ConfigStore, EventStore
from api.auth import Authenticator, RateLimiter, SharedRateLimiter, require_scope
from api.docs_pages import assets_router, render_plugins
from api.errors import exception_handlers
from api.hot_path import ACTOR_KEY, HotPath, HotPathApp
from api.openapi_docs import complete_openapi
from api.request_checks import check_host, check_media_type
from api.routes import ROUTE_HANDLERS
from api.strict import strict_body, takes_json_body

__all__ = ["Services", "create_app"]

log = logging.getLogger(__name__)
#: Loggers of the degradation paths, whose repeated warnings are rate-limited.
_DEGRADATION_LOGGERS = (
    "abwb.assignment.sticky",
    "abwb.events.exposure_log",
    "abwb.cache.redis",
    "abwb.cache.rate_limit",
    "abwb.snapshot",
    "abwb.access.key_ring",
    "api.errors",
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    """Everything the routes need, built once per application.

    Attributes:
        settings: Process settings.
        options: The API settings in use (``settings.api`` unless overridden).
        config_store: Config objects and audit.
        event_store: Exposures and events.
        cache: Sticky assignments and exposure de-duplication.
        snapshot: The in-process config snapshot.
        changes: Config write use cases.
        exposures: The background exposure log.
        serving: Assignment and flag evaluation (the online use case).
        auth: API keys, scopes and rate limit.
        clock: Wall clock (UTC) used for ``now``; injectable for tests.
        monotonic: Monotonic clock (seconds) used for the snapshot's age in ``/ready``.
        database: The SQL database of the config store (``None`` for memory stores); a
            PostgreSQL one is ``LISTEN`` ed on for config changes.
        accepted_hosts: ``Host`` header values served.
        alerts: The monitoring alerts ``GET /v1/alerts`` reads.
        in_flight: Back-pressure on ``/v1/assign`` (``options.max_in_flight``).
    """

    settings: Settings
    options: ApiSettings
    config_store: ConfigStore
    event_store: EventStore
    cache: AssignmentCache
    snapshot: ConfigSnapshotHolder
    changes: ConfigChanges
    exposures: ExposureLog
    serving: Serving
    auth: Authenticator
    clock: Callable[[], datetime] = _utc_now
    monotonic: Callable[[], float] = time.monotonic
    owned: list[Any] = field(default_factory=list)
    database: SqlDatabase | None = None
    accepted_hosts: frozenset[str] = frozenset({"*"})
    alerts: AlertStore = field(default_factory=MemoryAlertStore)
    in_flight: InFlightLimit = field(default_factory=lambda: InFlightLimit(0))

    def snapshot_age_s(self) -> float:
        """Seconds since the snapshot was loaded or confirmed current, on :attr:`monotonic`."""
        return self.snapshot.age_s + (self.monotonic() - time.monotonic())

    def config_watcher(self) -> ConfigWatcher | None:
        """The watcher refreshing the snapshot on changes made by other processes.

        Polls ``config_version()`` every ``options.snapshot_poll_s`` and wakes at once
        on a Redis pub/sub message (when Redis is configured) or a PostgreSQL NOTIFY
        (when the config store is PostgreSQL). ``None`` when there is nothing to watch.
        """
        database = self.database
        postgres = database if database and database.dialect.name == "postgres" else None
        redis_url = self.settings.cache.redis_url
        poll_s = self.options.snapshot_poll_s
        if poll_s <= 0 and redis_url is None and postgres is None:
            return None
        return ConfigWatcher.for_callback(
            self.snapshot.try_refresh,
            poll_s=poll_s if poll_s > 0 else 3600.0,
            redis_url=redis_url,
            postgres=postgres,
        )


def _open_cache(settings: Settings) -> AssignmentCache:
    if not settings.cache.redis_url:
        return MemoryAssignmentCache()
    try:
        from abwb.cache.redis import RedisAssignmentCache
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise CacheError(
            "ABWB_REDIS_URL is set but the redis client is not installed: pip install 'abwb[redis]'"
        ) from exc
    return RedisAssignmentCache(settings.cache.redis_url)


def _rate_limiter(
    settings: Settings, options: ApiSettings, owned: list[Any]
) -> RateLimiter | SharedRateLimiter:
    """In Redis when configured (one limit across worker processes), else in process."""
    if options.rate_limit_per_s > 0 and settings.cache.redis_url:
        from abwb.cache.rate_limit import RedisRateLimiter

        shared = RedisRateLimiter(
            settings.cache.redis_url,
            rate_per_s=options.rate_limit_per_s,
            burst=options.effective_burst,
        )
        owned.append(shared)
        return shared
    return RateLimiter(rate_per_s=options.rate_limit_per_s, burst=options.effective_burst)


def _open_stores(settings: Settings) -> tuple[ConfigStore, EventStore, DeferredStores | None]:
    """The stores of ``settings``; deferred ones when the database is down but a snapshot is saved.

    Raises:
        StorageError: the database is unreachable and there is no snapshot file to
            serve from (both named).
    """
    from abwb.store.opening import open_stores

    try:
        stores = open_stores(settings)
    except StorageError as exc:
        snapshot_file = settings.database.home / "snapshot.json"
        if not snapshot_file.is_file():
            raise
        log.error(
            "the database cannot be opened (%s); serving the last-known-good snapshot %s "
            "and retrying in the background: writes answer 503 until it is back",
            exc,
            snapshot_file,
        )
        deferred = DeferredStores(lambda: open_stores(settings), reason=str(exc))
        return deferred.config, deferred.events, deferred
    stores.alerts.close()  # the service keeps no alerts
    return stores.config, stores.events, None


def _key_store(
    database: SqlDatabase | None, deferred: DeferredStores | None, options: ApiSettings
) -> ApiKeyStore:
    """The key store next to the config store (its database, else memory), start-up keys added.

    A start-up key that cannot be stored (the database is down) still works: the key
    ring holds it in memory.
    """
    store = deferred.api_keys if deferred is not None else api_key_store_for(database)
    for key in options.keys:
        try:
            store.ensure(key.name, key.secret, key.scopes)
        except AbwbError as exc:
            log.warning("start-up API key %r not stored: %s", key.name, exc)
    return store


def _key_ring(options: ApiSettings, store: ApiKeyStore) -> ApiKeyRing:
    """The background-refreshed key list, start-up keys held in memory too."""
    return ApiKeyRing(
        store,
        refresh_s=options.key_refresh_s,
        bootstrap=[
            ApiKey(name=k.name, key_hash=hash_secret(k.secret), scopes=frozenset(k.scopes))
            for k in options.keys
        ],
    )


def create_app(
    settings: Settings | None = None,
    *,
    config_store: ConfigStore | None = None,
    event_store: EventStore | None = None,
    cache: AssignmentCache | None = None,
    options: ApiSettings | None = None,
    api_keys: ApiKeyStore | None = None,
    alert_store: AlertStore | None = None,
    clock: Callable[[], datetime] | None = None,
    monotonic: Callable[[], float] | None = None,
    debug: bool = False,
) -> HotPathApp:
    """Build the abwb HTTP service.

    Args:
        settings: Process settings (default: read from the environment).
        config_store: Config store to use (default: ``open_stores(settings)``).
        event_store: Event store to use (default: ``open_stores(settings)``).
        cache: Assignment cache (default: Redis when configured, else in-process).
        options: API settings (default: ``settings.api``).
        api_keys: Where API keys live (default: the config store's database, else
            memory); ``options.keys`` are added to it and known without it.
        alert_store: Where ``GET /v1/alerts`` reads (default: the config store's
            database, else an empty in-memory store).
        clock: UTC wall clock for ``now`` (tests pin it).
        monotonic: Monotonic clock for the snapshot's age (tests move it on).
        debug: Litestar debug mode.

    Returns:
        The Litestar application (serve it with uvicorn: ``abwb serve``).

    Raises:
        StorageError: the stores cannot be opened or the config cannot be loaded.
    """
    settings = settings or Settings.from_env()
    options = options or settings.api
    owned: list[Any] = []
    own_config = False
    deferred: DeferredStores | None = None
    if config_store is None or event_store is None:
        opened_config, opened_events, deferred = _open_stores(settings)
        owned += [deferred] if deferred is not None else [opened_config, opened_events]
        own_config = config_store is None
        config_store = config_store or opened_config
        event_store = event_store or opened_events
    database = config_store.database if isinstance(config_store, SqlConfigStore) else None
    if alert_store is None:
        alert_store = SqlAlertStore(database, owns=True) if database else MemoryAlertStore()
        owned.append(alert_store)
    if cache is None:
        cache = _open_cache(settings)
        owned.append(cache)
    if settings.cache.redis_url:
        # announce every write on Redis so other replicas refresh at once
        publisher = RedisConfigPublisher(settings.cache.redis_url)
        owned.append(publisher)
        config_store = PublishingConfigStore(config_store, publisher)
    key_ring = _key_ring(options, api_keys or _key_store(database, deferred, options))
    # The last-known-good snapshot file lets a process start while its database is down;
    # only for stores this app opened itself (injected stores are the caller's business).
    # (decided before any wrapping: a publishing store still is the opened one)
    snapshot_file = settings.database.home / "snapshot.json" if own_config else None
    limiter = _rate_limiter(settings, options, owned)
    snapshot = ConfigSnapshotHolder(snapshot_file=snapshot_file)
    snapshot.start(config_store)
    clock = clock or _utc_now
    spool_dir = options.exposures.spool_dir or (
        settings.database.home / "exposure-spool" if own_config else None
    )
    spool = (
        None
        if spool_dir is None
        else ExposureSpool(spool_dir, max_bytes=options.exposures.spool_max_bytes)
    )
    exposures = ExposureLog(event_store, cache, options.exposures, spool=spool)
    services = Services(
        settings=settings,
        options=options,
        config_store=config_store,
        event_store=event_store,
        cache=cache,
        snapshot=snapshot,
        changes=ConfigChanges(config_store, snapshot),
        exposures=exposures,
        serving=Serving(snapshot, cache, exposures, clock=clock),
        auth=Authenticator(keys=key_ring, mode=options.auth, limiter=limiter),
        alerts=alert_store,
        clock=clock,
        monotonic=monotonic or time.monotonic,
        owned=owned,
        database=database,
        accepted_hosts=options.accepted_hosts,
        in_flight=InFlightLimit(options.max_in_flight),
    )
    # the first read is synchronous (a store that answers gives its keys before the
    # first request); later reads happen in the background, never on a request
    key_ring.reload()

    quiet = RepeatedWarningFilter(options.log_repeat_s)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        quiet.install(_DEGRADATION_LOGGERS)
        complete_openapi(app.openapi_schema)
        await services.exposures.start()
        key_ring.start()
        if deferred is not None:
            deferred.start()
        watcher = services.config_watcher()
        if watcher is not None:
            watcher.start()
        try:
            yield
        finally:
            if watcher is not None:
                await anyio.to_thread.run_sync(watcher.stop)
            await anyio.to_thread.run_sync(key_ring.stop)
            await services.exposures.stop()
            quiet.uninstall()
            for resource in owned:
                closing = resource.close()
                if asyncio.iscoroutine(closing):
                    await closing

    app = HotPathApp(
        route_handlers=[*ROUTE_HANDLERS, assets_router()],
        state=_state(services),
        # a before-request hook, not guards: Litestar copies the handler for every guard
        # call (~30 µs each on this machine), the hook sees it as is
        before_request=_admit,
        exception_handlers=exception_handlers,
        request_max_body_size=options.max_body_bytes,
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(
            title="abwb",
            version="1",
            description=(
                "Assignment, configuration and event API of abwb. Errors are RFC 9457 "
                "problem details (application/problem+json) with an `errors` list of "
                "{path, message}."
            ),
            path="/schema",
            render_plugins=render_plugins(),
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(
                        type="http", scheme="bearer", description="API key as a bearer token"
                    ),
                    "api_key": SecurityScheme(
                        type="apiKey", name="X-API-Key", security_scheme_in="header"
                    ),
                }
            ),
            security=[{"bearer": []}, {"api_key": []}],
        ),
        debug=debug,
        logging_config=LoggingConfig(handlers={"console": {
            "()": _CurrentStderr, "level": "DEBUG", "formatter": "standard"}}),
    )
    app.install(HotPath(services, max_body_bytes=options.max_body_bytes))
    return app


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Litestar's console handler, writing to ``sys.stderr`` as it is at each record.

    Litestar's default handler keeps the ``sys.stderr`` of the moment the app was built,
    and writes from a queue-listener thread. When that stream is replaced and closed
    later (a notebook cell's capture, a test's ``capsys``), records went to the closed
    stream and logging printed "--- Logging error --- I/O operation on closed file".
    """

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass  # always the current sys.stderr


async def _admit(request: Request[Any, Any, Any]) -> Response[None] | None:
    """Every request, before its body is parsed: host, key and scope, type, strict body."""
    handler = request.route_handler
    check_host(request.headers, request.app.state.services.accepted_hosts)
    if request.method == "OPTIONS":
        return _options(request)
    if ACTOR_KEY not in request.scope:  # else the hot path checked the key and handed it on
        await require_scope(request, handler)
    check_media_type(request.headers, request.method, takes_json_body(handler))
    await strict_body(request, handler)
    return None


def _options(request: Request[Any, Any, Any]) -> Response[None]:
    """``OPTIONS``: every method of the path (Litestar's lists only some for a shared path)."""
    template = request.scope.get("path_template")
    methods = sorted(
        {m for r in request.app.routes if r.path_format == template for m in r.methods}
        | {"OPTIONS"}
    )
    return Response(None, status_code=204, headers={"Allow": ", ".join(methods)})


def _state(services: Services) -> Any:
    from litestar.datastructures import State

    return State({"services": services})
