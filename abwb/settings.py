"""Process settings read from the environment (prefix ``ABWB_``), grouped by concern.

Entry points (``create_app``, the CLI, the notebook bootstrap) call
:meth:`Settings.from_env` once; tests build :class:`Settings` directly. Nothing is
read at import time.

================================  ==============================================
variable                          meaning (default)
================================  ==============================================
``ABWB_DATABASE_URL``             ``postgresql://...`` or ``sqlite:///path``
                                  (unset: embedded SQLite at ``./.abwb/abwb.db``)
``ABWB_DATABASE_SCHEMA``          PostgreSQL schema holding abwb's tables (``public``)
``ABWB_REDIS_URL``                ``redis://host:port/db`` (unset: in-process cache)
``ABWB_HOME``                     directory of embedded state (``./.abwb``)
``ABWB_API_HOST`` / ``_PORT``     bind address of ``abwb serve`` (127.0.0.1:8000)
``ABWB_API_AUTH``                 ``auto`` (on when a key exists) | ``on`` | ``off``
``ABWB_API_KEYS``                 start-up keys ``name:secret:scope+scope,...``
``ABWB_API_RATE_LIMIT``           requests/s per key, 0 = unlimited (0)
``ABWB_API_RATE_BURST``           token-bucket size (2 x rate, at least 1)
``ABWB_API_SNAPSHOT_POLL_S``      seconds between config-version polls (1.0)
``ABWB_API_READY_MAX_AGE_S``      ``/ready`` is 503 beyond this snapshot age, 0 = off (60)
``ABWB_API_ALLOWED_HOSTS``        ``Host`` names accepted, comma-separated
                                  (loopback names + the bind address)
``ABWB_API_TRUSTED_PROXIES``      addresses whose ``X-Forwarded-For`` is trusted (none)
``ABWB_ALPHA``                    default significance level (0.05)
``ABWB_REPORTS_DIR``              where readouts are written (``./reports``)
``ABWB_WAREHOUSE_URL``            readouts and the monitor run in this warehouse
                                (``postgresql://...``, ``local[N]``, ``sc://host:port``;
                                unset: the event store)
``ABWB_WAREHOUSE_TABLES``         ``exposures=TABLE,events=TABLE`` there (unset: the
                                event store's tables in ``ABWB_DATABASE_SCHEMA`` on
                                PostgreSQL, ``exposures``/``events`` on Spark)
================================  ==============================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from abwb.access.keys import SCOPES
from abwb.errors import InvalidInput

__all__ = [
    "AnalysisSettings",
    "ApiSettings",
    "AuthMode",
    "BootstrapKey",
    "CacheSettings",
    "DatabaseSettings",
    "ExposureSettings",
    "Settings",
]

#: ``auto``: authentication on as soon as one API key exists; ``on``/``off`` force it.
AuthMode = Literal["auto", "on", "off"]
#: Host names always accepted in ``Host`` (besides the bind address).
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    """Where config and events are stored."""

    url: str | None = None
    home: Path = Path(".abwb")
    schema: str = "public"

    @property
    def effective_url(self) -> str:
        """The URL in use: the configured one or the embedded SQLite file."""
        return self.url or f"sqlite:///{(self.home / 'abwb.db').as_posix()}"

    @property
    def is_postgres(self) -> bool:
        """Whether the store is PostgreSQL."""
        return self.effective_url.startswith(("postgresql://", "postgres://"))


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """Assignment cache: Redis when a URL is set, else in-process."""

    redis_url: str | None = None


@dataclass(frozen=True, slots=True)
class BootstrapKey:
    """An API key given at start-up (hashed as soon as it is loaded)."""

    name: str
    secret: str
    scopes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ExposureSettings:
    """Tuning of the exposure log (queue, batches, retries, de-dup, spool).

    Args:
        max_queue: Exposures held in memory; beyond it new ones are dropped and counted
            (``dropped_queue_full``).
        batch_size: Rows appended to the store at once; four batches' worth in one
            append while two or more batches are queued (catching up).
        flush_interval_s: Longest wait for a batch to fill before it is written.
        retries: Attempts per batch when the store fails (the first one included)
            before the batch is spooled to disk.
        retry_backoff_s: First pause between attempts; doubles each time.
        dedup_ttl_s: How long an exposure key is remembered by the cache.
        recent_units: Units whose logged exposures this process remembers itself (at
            least the newest half of them; oldest forgotten first), so a repeat visit
            is skipped as it is offered: no row, no queue, no cache round trip. About
            300 bytes a unit in up to 8 experiments, 600 in 20 (measured).
        spool_max_bytes: Largest on-disk spool of exposures the store could not take
            (beyond it new exposures are dropped and counted).
        spool_retry_s: Seconds between attempts to deliver the spool.
        backlog_rows: Queued exposures from which the flusher writes batches to the
            spool instead of the store, so a store slower than the traffic does not
            fill the queue (a spool file is one sequential write), until the queue is
            below half of it; the spool is delivered only outside that state. 0: never.
        shed_at: Fraction of ``max_queue`` from which the API sheds assignment requests
            (503 + ``Retry-After``) while the store answers but cannot keep up: a unit
            is not served a variant whose exposure could not be kept. 0: never (serve
            and count the drops).
        spool_dir: Spool directory (default: ``<ABWB_HOME>/exposure-spool`` when the
            API opened its own stores; no spool for injected stores unless set).
    """

    max_queue: int = 100_000
    batch_size: int = 500
    flush_interval_s: float = 0.2
    retries: int = 3
    retry_backoff_s: float = 0.05
    dedup_ttl_s: float = 7 * 24 * 3600.0
    recent_units: int = 100_000
    spool_max_bytes: int = 256 * 1024 * 1024
    spool_retry_s: float = 1.0
    backlog_rows: int = 80_000
    shed_at: float = 0.9
    spool_dir: Path | None = None


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """The HTTP service: binding, authentication, limits, snapshot and exposure tuning.

    Args:
        host: Bind address of ``abwb serve``.
        port: Port of ``abwb serve``.
        auth: ``auto``, ``on`` or ``off``.
        keys: API keys to install at start-up.
        rate_limit_per_s: Sustained requests per second per key (0: unlimited).
        rate_burst: Bucket size (0: twice the rate).
        max_body_bytes: Largest request body (413 beyond), except ``/v1/events``.
        snapshot_poll_s: How often the store's config version is polled (0: never).
        exposures: Exposure log tuning.
        ready_max_snapshot_age_s: ``/ready`` reports the snapshot stale (503) when it
            was last loaded or confirmed current longer ago than this (0: never).
        key_refresh_s: Seconds between background reloads of the API keys.
        allowed_hosts: ``Host`` header values accepted besides the loopback names and
            the bind address (``*``: any; for use behind a proxy that checks it).
        trusted_proxies: Addresses whose ``X-Forwarded-For`` / ``-Proto`` is believed.
        log_repeat_s: A repeated warning of a degradation path (Redis or the store
            down) is written at most once per this many seconds.
        max_in_flight: Most ``/v1/assign`` requests served at once per worker; beyond
            it they are shed with 503 + ``Retry-After`` (0: unlimited).
    """

    host: str = "127.0.0.1"
    port: int = 8000
    auth: AuthMode = "auto"
    keys: tuple[BootstrapKey, ...] = ()
    rate_limit_per_s: float = 0.0
    rate_burst: float = 0.0
    max_body_bytes: int = 1_000_000
    snapshot_poll_s: float = 1.0
    exposures: ExposureSettings = field(default_factory=ExposureSettings)
    ready_max_snapshot_age_s: float = 60.0
    key_refresh_s: float = 10.0
    allowed_hosts: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    log_repeat_s: float = 10.0
    max_in_flight: int = 32

    @property
    def effective_burst(self) -> float:
        """The token bucket size in use."""
        return self.rate_burst or max(1.0, 2 * self.rate_limit_per_s)

    @property
    def accepted_hosts(self) -> frozenset[str]:
        """Every ``Host`` name accepted (lower case, without port)."""
        return frozenset(
            h.lower() for h in (*LOOPBACK_HOSTS, self.host, *self.allowed_hosts) if h
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ApiSettings:
        """Read ``ABWB_API_*`` variables.

        Args:
            environ: The variables (default: the process environment).

        Returns:
            The API settings.

        Raises:
            InvalidInput: a variable has an unusable value (named in the message).

        Examples:
            >>> ApiSettings.from_env({"ABWB_API_KEYS": "ci:secret-123:read+assign"}).keys[0].scopes
            ('read', 'assign')
        """
        env = os.environ if environ is None else environ
        auth = env.get("ABWB_API_AUTH", "auto") or "auto"
        if auth not in ("auto", "on", "off"):
            raise InvalidInput(f"must be auto, on or off, got {auth!r}", path="ABWB_API_AUTH")
        return cls(
            host=env.get("ABWB_API_HOST", "127.0.0.1") or "127.0.0.1",
            port=_int(env, "ABWB_API_PORT", 8000, 1, 65535),
            auth=auth,  # type: ignore[arg-type]
            keys=_keys(env.get("ABWB_API_KEYS", "")),
            rate_limit_per_s=_number(env, "ABWB_API_RATE_LIMIT", 0.0),
            rate_burst=_number(env, "ABWB_API_RATE_BURST", 0.0),
            snapshot_poll_s=_number(env, "ABWB_API_SNAPSHOT_POLL_S", 1.0),
            ready_max_snapshot_age_s=_number(env, "ABWB_API_READY_MAX_AGE_S", 60.0),
            allowed_hosts=_names(env.get("ABWB_API_ALLOWED_HOSTS", "")),
            trusted_proxies=_names(env.get("ABWB_API_TRUSTED_PROXIES", "")),
            max_in_flight=_int(env, "ABWB_API_MAX_IN_FLIGHT", 32, 0, 1_000_000),
        )


@dataclass(frozen=True, slots=True)
class AnalysisSettings:
    """Defaults for analyses that do not state their own."""

    alpha: float = 0.05
    reports_dir: Path = Path("reports")
    warehouse_url: str | None = None
    #: ``exposures=TABLE,events=TABLE``, checked where a warehouse source is built
    #: (:meth:`abwb.metrics.WarehouseSource.from_url`, errors name ABWB_WAREHOUSE_TABLES).
    warehouse_tables: str | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    """All settings of one process."""

    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``ABWB_*`` variables (from ``environ`` or the process environment).

        Raises:
            InvalidInput: a variable has an unusable value (named in the message).
        """
        env = os.environ if environ is None else environ
        home = Path(env.get("ABWB_HOME", ".abwb"))
        return cls(
            database=DatabaseSettings(
                url=env.get("ABWB_DATABASE_URL") or None,
                home=home,
                schema=env.get("ABWB_DATABASE_SCHEMA") or "public",
            ),
            cache=CacheSettings(redis_url=env.get("ABWB_REDIS_URL") or None),
            api=ApiSettings.from_env(env),
            analysis=AnalysisSettings(
                alpha=_float(env, "ABWB_ALPHA", 0.05, 0.0, 1.0),
                reports_dir=Path(env.get("ABWB_REPORTS_DIR", "reports")),
                warehouse_url=env.get("ABWB_WAREHOUSE_URL") or None,
                warehouse_tables=env.get("ABWB_WAREHOUSE_TABLES") or None,
            ),
        )


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"must be an integer, got {raw!r}", path=name) from None
    if not low <= value <= high:
        raise InvalidInput(f"must be in [{low}, {high}], got {value}", path=name)
    return value


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"must be a number, got {raw!r}", path=name) from None
    if not low < value < high:
        raise InvalidInput(f"must be in ({low}, {high}), got {value}", path=name)
    return value


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"must be a number, got {raw!r}", path=name) from None
    if not 0 <= value < float("inf"):
        raise InvalidInput(f"must be a finite number >= 0, got {raw!r}", path=name)
    return value


def _names(raw: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in raw.split(",") if x.strip())


def _keys(raw: str) -> tuple[BootstrapKey, ...]:
    keys = []
    for i, item in enumerate(x for x in raw.split(",") if x.strip()):
        parts = item.strip().split(":")
        if len(parts) != 3:
            raise InvalidInput(
                f"entry {i} must look like name:secret:scope+scope, got {len(parts)} part(s)",
                path="ABWB_API_KEYS",
            )
        name, secret, scopes = parts
        wanted = tuple(s for s in scopes.split("+") if s)
        if not wanted or any(s not in SCOPES for s in wanted):
            raise InvalidInput(
                f"entry {i} ({name!r}): scopes must be from {list(SCOPES)}, got {scopes!r}",
                path="ABWB_API_KEYS",
            )
        keys.append(BootstrapKey(name, secret, wanted))
    return tuple(keys)
