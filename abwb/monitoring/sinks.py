"""Alert sinks: where opened and resolved alerts are delivered (log, webhook, Redis pub/sub).

What belongs here: the ``AlertSink`` port, its three implementations, the JSON
payload they share, and :func:`deliver`, which sends alerts to every sink and
reports failures without raising (a broken webhook must not stop monitoring).
Sinks are adapters: ``httpx`` and ``redis`` are imported only when such a sink is
built, and their exceptions never leave this module.

Payload (JSON): ``{"event": "alert.opened" | "alert.resolved", "alert": {...}}``
with the :class:`~abwb.monitoring.alerts.Alert` fields (timestamps ISO 8601 UTC).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import msgspec

from abwb.errors import InvalidInput
from abwb.monitoring.alerts import Alert

__all__ = [
    "DEFAULT_CHANNEL",
    "AlertSink",
    "DeliveryResult",
    "LogSink",
    "RedisPubSubSink",
    "WebhookSink",
    "alert_payload",
    "deliver",
]

#: Redis pub/sub channel alerts are published on.
DEFAULT_CHANNEL = "abwb:alerts"
_log = logging.getLogger("abwb.monitoring")


def alert_payload(alert: Alert) -> bytes:
    """The JSON body every sink sends for ``alert``.

    Args:
        alert: The alert (its ``status`` decides ``alert.opened`` / ``alert.resolved``).

    Returns:
        UTF-8 JSON bytes.
    """
    event = "alert.opened" if alert.status == "open" else "alert.resolved"
    return msgspec.json.encode({"event": event, "alert": alert})


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """Outcome of delivering one alert to one sink.

    Args:
        sink: Sink name.
        alert_id: The alert.
        ok: Delivered.
        attempts: Attempts made.
        error: Last error when not delivered.
    """

    sink: str
    alert_id: str
    ok: bool
    attempts: int = 1
    error: str = ""


@runtime_checkable
class AlertSink(Protocol):
    """Something that receives alerts. ``send`` returns a result; it never raises."""

    name: str

    def send(self, alert: Alert) -> DeliveryResult:
        """Deliver one alert."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class LogSink:
    """Writes alerts to the ``abwb.monitoring`` logger (warning for open, info for resolved)."""

    name = "log"

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or _log

    def send(self, alert: Alert) -> DeliveryResult:
        """Log the alert."""
        if alert.status == "open":
            level = logging.INFO if alert.severity == "info" else logging.WARNING
            self._log.log(level, "alert opened [%s/%s] %s", alert.kind, alert.severity,
                          alert.message)
        else:
            self._log.info("alert resolved [%s] %s", alert.kind, alert.dedup_key)
        return DeliveryResult(self.name, alert.id, True)

    def close(self) -> None:
        """Nothing to release."""


class WebhookSink:
    """HTTP POST of the JSON payload, retried with exponential back-off.

    Retries connection errors, timeouts, HTTP 429 and 5xx; a 4xx other than 429 is
    the receiver refusing the payload and is not retried.

    Args:
        url: Receiver URL (``http://`` or ``https://``).
        timeout_s: Per-attempt timeout.
        max_attempts: Attempts in total (>= 1).
        backoff_s: Wait before the second attempt; doubles each retry.
        max_backoff_s: Upper bound of one wait.
        headers: Extra headers (e.g. an authorisation token).
        sleep: Injected for tests (defaults to ``time.sleep``).
        client: An ``httpx.Client`` to use (tests); one is created otherwise.

    Raises:
        InvalidInput: bad URL or retry settings.
    """

    name = "webhook"

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        max_attempts: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        headers: dict[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        client: Any = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise InvalidInput(f"expected an http(s) URL, got {url!r}", path="webhook_url")
        if not timeout_s > 0:
            raise InvalidInput(f"expected > 0, got {timeout_s!r}", path="timeout_s")
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise InvalidInput(f"expected an int >= 1, got {max_attempts!r}", path="max_attempts")
        if not backoff_s >= 0:
            raise InvalidInput(f"expected >= 0, got {backoff_s!r}", path="backoff_s")
        try:
            import httpx
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(
                "the webhook alert sink needs httpx: pip install 'abwb[monitoring]'"
            ) from exc

        self.url = url
        self._httpx = httpx
        self._client = client or httpx.Client(timeout=timeout_s)
        self._timeout_s = timeout_s
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._headers = {"content-type": "application/json", **(headers or {})}
        self._sleep = sleep

    def send(self, alert: Alert) -> DeliveryResult:
        """POST the alert, retrying transient failures."""
        body = alert_payload(alert)
        error = ""
        for attempt in range(1, self._max_attempts + 1):
            try:
                response = self._client.post(
                    self.url, content=body, headers=self._headers, timeout=self._timeout_s
                )
            except self._httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 300:
                    return DeliveryResult(self.name, alert.id, True, attempt)
                error = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code != 429:
                    return DeliveryResult(self.name, alert.id, False, attempt, error)
            if attempt < self._max_attempts:
                wait = min(self._backoff_s * 2 ** (attempt - 1), self._max_backoff_s)
                _log.info("webhook attempt %d for alert %s failed (%s); retrying in %.2fs",
                          attempt, alert.id, error, wait)
                self._sleep(wait)
        return DeliveryResult(self.name, alert.id, False, self._max_attempts, error)

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()


class RedisPubSubSink:
    """Publishes the JSON payload on a Redis channel (default ``abwb:alerts``).

    Args:
        url: ``redis://host:port/db``.
        channel: Channel name.
        timeout_s: Socket timeout.
    """

    name = "redis"

    def __init__(self, url: str, *, channel: str = DEFAULT_CHANNEL, timeout_s: float = 2.0) -> None:
        import redis

        self.channel = channel
        self._redis = redis
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )

    def send(self, alert: Alert) -> DeliveryResult:
        """Publish the alert."""
        try:
            self._client.publish(self.channel, alert_payload(alert))
        except self._redis.RedisError as exc:
            return DeliveryResult(self.name, alert.id, False, 1, f"{type(exc).__name__}: {exc}")
        return DeliveryResult(self.name, alert.id, True)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


def deliver(alerts: Sequence[Alert], sinks: Sequence[AlertSink]) -> list[DeliveryResult]:
    """Send every alert to every sink; failures are logged and returned, never raised.

    Args:
        alerts: Alerts to deliver (opened or resolved).
        sinks: Destinations.

    Returns:
        One result per alert × sink.
    """
    results: list[DeliveryResult] = []
    for alert in alerts:
        for sink in sinks:
            result = sink.send(alert)
            if not result.ok:
                _log.error("alert %s not delivered to %s after %d attempt(s): %s",
                           alert.id, result.sink, result.attempts, result.error)
            results.append(result)
    return results
