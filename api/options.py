"""Service options of the HTTP API that :class:`abwb.settings.Settings` does not cover.

What belongs here: :class:`ApiOptions` (authentication mode, bootstrap API keys, rate
limit, body limits, snapshot polling, exposure queue) and its reading from ``ABWB_API_*``
environment variables. Tests build it directly.

==============================  =================================================
variable                        meaning (default)
==============================  =================================================
``ABWB_API_AUTH``               ``auto`` (on when a key exists) | ``on`` | ``off``
``ABWB_API_KEYS``               bootstrap keys ``name:secret:scope+scope,...``
``ABWB_API_RATE_LIMIT``         requests/s per key, 0 = unlimited (0)
``ABWB_API_RATE_BURST``         token-bucket size (2 x rate, at least 1)
``ABWB_API_SNAPSHOT_POLL_S``    seconds between config-version polls (1.0)
``ABWB_API_READY_MAX_AGE_S``    ``/ready`` is 503 beyond this snapshot age, 0 = off (60)
==============================  =================================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from abwb.errors import InvalidInput
from api.auth import SCOPES, AuthMode
from api.exposures import ExposureLoggerConfig

__all__ = ["ApiOptions", "BootstrapKey"]


@dataclass(frozen=True, slots=True)
class BootstrapKey:
    """An API key given at start-up (hashed as soon as it is loaded)."""

    name: str
    secret: str
    scopes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ApiOptions:
    """Options of one API process.

    Args:
        auth: ``auto``, ``on`` or ``off``.
        keys: API keys to install at start-up.
        rate_limit_per_s: Sustained requests per second per key (0: unlimited).
        rate_burst: Bucket size (0: twice the rate).
        max_body_bytes: Largest request body (413 beyond), except ``/v1/events``
            (:data:`api.routes.events.EVENTS_MAX_BODY_BYTES`).
        snapshot_poll_s: How often the store's config version is polled (0: never).
        exposures: Exposure queue tuning.
        ready_max_snapshot_age_s: ``/ready`` reports the snapshot stale (503) when it
            was last loaded or confirmed current longer ago than this (0: never).
    """

    auth: AuthMode = "auto"
    keys: tuple[BootstrapKey, ...] = ()
    rate_limit_per_s: float = 0.0
    rate_burst: float = 0.0
    max_body_bytes: int = 1_000_000
    snapshot_poll_s: float = 1.0
    exposures: ExposureLoggerConfig = field(default_factory=ExposureLoggerConfig)
    ready_max_snapshot_age_s: float = 60.0

    @property
    def effective_burst(self) -> float:
        """The token bucket size in use."""
        return self.rate_burst or max(1.0, 2 * self.rate_limit_per_s)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ApiOptions:
        """Read ``ABWB_API_*`` variables.

        Raises:
            InvalidInput: a variable has an unusable value (named in the message).

        Examples:
            >>> ApiOptions.from_env({"ABWB_API_KEYS": "ci:secret-123:read+assign"}).keys[0].scopes
            ('read', 'assign')
        """
        env = os.environ if environ is None else environ
        auth = env.get("ABWB_API_AUTH", "auto") or "auto"
        if auth not in ("auto", "on", "off"):
            raise InvalidInput(f"must be auto, on or off, got {auth!r}", path="ABWB_API_AUTH")
        return cls(
            auth=auth,  # type: ignore[arg-type]
            keys=_keys(env.get("ABWB_API_KEYS", "")),
            rate_limit_per_s=_number(env, "ABWB_API_RATE_LIMIT", 0.0),
            rate_burst=_number(env, "ABWB_API_RATE_BURST", 0.0),
            snapshot_poll_s=_number(env, "ABWB_API_SNAPSHOT_POLL_S", 1.0),
            ready_max_snapshot_age_s=_number(env, "ABWB_API_READY_MAX_AGE_S", 60.0),
        )


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
