"""Fan-out of config changes to every process: Redis pub/sub, PostgreSQL NOTIFY, polling.

What belongs here: :class:`RedisConfigPublisher` (announce a new config version on the
``abwb:config`` channel), :class:`PublishingConfigStore` (a ``ConfigStore`` wrapper that
announces after every committed write), and :class:`ConfigWatcher`, the background
threads that keep a :class:`~abwb.snapshot.holder.ConfigSnapshotHolder` current.

The watcher polls ``config_version()`` (the fallback that always works, every
``poll_s``) and, when configured, wakes immediately on a Redis message or a PostgreSQL
``NOTIFY`` (sent by :class:`~abwb.store.postgres.PostgresConfigStore` inside each write
transaction, so it arrives only after commit). Whatever wakes it, it reloads from the
store and the holder only moves forward, so duplicate, late or lost notifications are
harmless. Failures of any channel are logged and counted, never raised into serving.
"""

from __future__ import annotations

import builtins
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from abwb.config.bundle import ConfigBundle
from abwb.errors import AbwbError
from abwb.snapshot.holder import ConfigSnapshotHolder
from abwb.store.protocol import AuditAction, AuditEntry, ConfigStore, ConfigTransaction, Kind

__all__ = [
    "CONFIG_CHANNEL",
    "ConfigWatcher",
    "PublishingConfigStore",
    "RedisConfigPublisher",
]

log = logging.getLogger(__name__)
#: Redis pub/sub channel carrying new config versions.
CONFIG_CHANNEL = "abwb:config"


class RedisConfigPublisher:
    """Announces config versions on a Redis channel (best effort, never raises).

    Args:
        url: ``redis://...``.
        channel: Pub/sub channel.
        timeout_s: Socket timeout: a down Redis must not slow a config write.
    """

    def __init__(self, url: str, *, channel: str = CONFIG_CHANNEL, timeout_s: float = 0.2) -> None:
        import redis

        self.channel = channel
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        #: Counts of ``published`` and ``failed`` announcements.
        self.counters: Counter[str] = Counter()

    def publish(self, version: int) -> bool:
        """Announce ``version``; ``False`` (logged, counted) if Redis is unavailable."""
        try:
            self._client.publish(self.channel, str(version))
        except self._errors as exc:
            self.counters["failed"] += 1
            log.warning(
                "config version %d not announced on Redis (polling will catch up): %s", version, exc
            )
            return False
        self.counters["published"] += 1
        return True

    def close(self) -> None:
        """Close the connection."""
        self._client.close()


class PublishingConfigStore:
    """A :class:`~abwb.store.ConfigStore` that announces the new version after each write.

    Args:
        store: The store doing the work.
        publisher: Where to announce (anything with ``publish(version) -> bool``).
    """

    def __init__(self, store: ConfigStore, publisher: RedisConfigPublisher) -> None:
        self.store = store
        self.publisher = publisher

    def _announce(self) -> None:
        try:
            self.publisher.publish(self.store.config_version())
        except AbwbError as exc:  # the write is committed; polling catches up
            log.warning("config version not announced: %s", exc)

    def load_bundle(self) -> ConfigBundle:
        """See :meth:`ConfigStore.load_bundle`."""
        return self.store.load_bundle()

    def config_version(self) -> int:
        """See :meth:`ConfigStore.config_version`."""
        return self.store.config_version()

    def get(self, kind: Kind, key: str) -> Any:
        """See :meth:`ConfigStore.get`."""
        return self.store.get(kind, key)

    def list(
        self, kind: Kind, *, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Any]:
        """See :meth:`ConfigStore.list`."""
        return self.store.list(kind, status=status, limit=limit, offset=offset)

    @contextmanager
    def change(self, what: str) -> Iterator[ConfigTransaction]:
        """See :meth:`ConfigStore.change`; announces the new version after commit."""
        with self.store.change(what) as tx:
            yield tx
        self._announce()

    def create(self, kind: Kind, obj: Any, *, actor: str, reason: str = "") -> Any:
        """See :meth:`ConfigStore.create`; announces the new version."""
        created = self.store.create(kind, obj, actor=actor, reason=reason)
        self._announce()
        return created

    def update(
        self,
        kind: Kind,
        obj: Any,
        *,
        expected_version: int,
        actor: str,
        reason: str = "",
        action: AuditAction = "update",
    ) -> Any:
        """See :meth:`ConfigStore.update`; announces the new version."""
        updated = self.store.update(
            kind, obj, expected_version=expected_version, actor=actor, reason=reason, action=action
        )
        self._announce()
        return updated

    def delete(
        self, kind: Kind, key: str, *, expected_version: int, actor: str, reason: str = ""
    ) -> None:
        """See :meth:`ConfigStore.delete`; announces the new version."""
        self.store.delete(kind, key, expected_version=expected_version, actor=actor, reason=reason)
        self._announce()

    def audit(
        self, *, kind: Kind | None = None, key: str | None = None, limit: int = 100
    ) -> builtins.list[AuditEntry]:
        """See :meth:`ConfigStore.audit`."""
        return self.store.audit(kind=kind, key=key, limit=limit)

    def close(self) -> None:
        """Close the store and the publisher."""
        self.store.close()
        self.publisher.close()


class ConfigWatcher:
    """Background threads keeping a holder current (poll + Redis + PostgreSQL NOTIFY).

    Args:
        holder: The snapshot holder to refresh.
        store: Where config is loaded from.
        poll_s: Polling interval of ``config_version()`` (the fallback path).
        redis_url: Subscribe to ``channel`` on this Redis for immediate wake-ups.
        channel: Redis channel.
        postgres: A :class:`~abwb.store.postgres.PostgresDatabase` to ``LISTEN`` on.

    Examples:
        >>> from abwb.store import SqliteConfigStore
        >>> import tempfile, pathlib
        >>> store = SqliteConfigStore(pathlib.Path(tempfile.mkdtemp()) / "abwb.db")
        >>> holder = ConfigSnapshotHolder()
        >>> with ConfigWatcher(holder, store, poll_s=0.05):
        ...     holder.wait_for(0, timeout_s=2)
        True
        >>> store.close()
    """

    def __init__(
        self,
        holder: ConfigSnapshotHolder,
        store: ConfigStore,
        *,
        poll_s: float = 0.5,
        redis_url: str | None = None,
        channel: str = CONFIG_CHANNEL,
        postgres: Any = None,
    ) -> None:
        self.holder = holder
        self.store = store
        self.poll_s = poll_s
        self.redis_url = redis_url
        self.channel = channel
        self.postgres = postgres
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._callback: Callable[[], object] | None = None
        #: Counts of ``refreshes``, ``refresh_failed``, ``redis_messages``,
        #: ``redis_errors``, ``pg_notifies``, ``pg_errors``.
        self.counters: Counter[str] = Counter()

    @classmethod
    def for_callback(
        cls,
        refresh: Callable[[], object],
        *,
        poll_s: float = 0.5,
        redis_url: str | None = None,
        channel: str = CONFIG_CHANNEL,
        postgres: Any = None,
    ) -> ConfigWatcher:
        """A watcher that calls ``refresh()`` on every poll / message instead of a holder.

        For callers keeping their own snapshot object (``refresh`` must be cheap when
        nothing changed, e.g. compare ``config_version()`` first, and must not raise
        for an unavailable store other than with an :class:`~abwb.errors.AbwbError`).
        """
        watcher = cls(
            ConfigSnapshotHolder(),
            None,  # type: ignore[arg-type]
            poll_s=poll_s,
            redis_url=redis_url,
            channel=channel,
            postgres=postgres,
        )
        watcher._callback = refresh
        return watcher

    def start(self) -> ConfigWatcher:
        """Start the threads (idempotent)."""
        if self._threads:
            return self
        self._stop.clear()
        targets = [self._poll_loop]
        if self.redis_url:
            targets.append(self._redis_loop)
        if self.postgres is not None:
            targets.append(self._postgres_loop)
        for target in targets:
            thread = threading.Thread(target=target, name=f"abwb-{target.__name__}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop the threads and wait for them (at most a couple of seconds)."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=3)
        self._threads = []

    def __enter__(self) -> ConfigWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _refresh(self) -> None:
        try:
            if self._callback is not None:
                self._callback()
            elif self.holder.refresh(self.store):
                self.counters["refreshes"] += 1
        except AbwbError as exc:
            self.counters["refresh_failed"] += 1
            self.holder.counters["refresh_failed"] += 1
            log.warning(
                "config refresh failed; still serving version %d: %s", self.holder.version, exc
            )

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            self._refresh()
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def _redis_loop(self) -> None:
        import redis

        backoff = 0.1
        while not self._stop.is_set():
            client = redis.Redis.from_url(
                self.redis_url or "", socket_timeout=2.0, socket_connect_timeout=0.5
            )
            try:
                pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
                pubsub.subscribe(self.channel)
                backoff = 0.1
                self._wake.set()  # catch up on anything missed while disconnected
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.25)
                    if message is not None:
                        self.counters["redis_messages"] += 1
                        self._wake.set()
            except (redis.RedisError, OSError) as exc:
                self.counters["redis_errors"] += 1
                log.warning("config fan-out via Redis interrupted (polling continues): %s", exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                client.close()

    def _postgres_loop(self) -> None:
        import psycopg

        backoff = 0.1
        while not self._stop.is_set():
            try:
                with self.postgres.connect(autocommit=True) as conn:
                    conn.execute(f'LISTEN "{self.postgres.notify_channel}"')
                    backoff = 0.1
                    self._wake.set()
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.25, stop_after=1):
                            self.counters["pg_notifies"] += 1
                            self._wake.set()
            except (psycopg.Error, AbwbError) as exc:
                self.counters["pg_errors"] += 1
                log.warning("config fan-out via NOTIFY interrupted (polling continues): %s", exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
