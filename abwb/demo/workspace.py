"""Where the demo persists: its own SQLite file or PostgreSQL schema, reset on every run.

What belongs here: :class:`DemoWorkspace` (the demo's config, event and alert stores,
its assignment cache and the config snapshot holder kept current by a
:class:`~abwb.snapshot.ConfigWatcher`) and :func:`open_workspace`, which picks the
backends from the process settings exactly as production does — embedded SQLite by
default, PostgreSQL + Redis when ``ABWB_DATABASE_URL`` / ``ABWB_REDIS_URL`` are set —
but never touches anybody else's data: on SQLite the demo writes the default workspace
``$ABWB_HOME/abwb.db`` (so ``abwb readout``, ``abwb export`` and the notebooks see the
demo's data with no setting) and refuses to reset it when it holds data the demo did not
write; on PostgreSQL it writes its own schema (``abwb_demo`` by default) and Redis key prefix.
"""

from __future__ import annotations

import re
import time
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from abwb.cache.memory import MemoryAssignmentCache
from abwb.cache.protocol import AssignmentCache
from abwb.errors import InvalidInput, StorageError
from abwb.settings import Settings
from abwb.snapshot.fanout import ConfigWatcher, PublishingConfigStore, RedisConfigPublisher
from abwb.snapshot.holder import ConfigSnapshotHolder
from abwb.store.opening import open_stores
from abwb.store.protocol import ConfigStore, EventStore

__all__ = [
    "DEMO_MARKER",
    "DEMO_SCHEMA",
    "DemoWorkspace",
    "demo_settings",
    "open_workspace",
    "reset_workspace",
]

#: PostgreSQL schema of the demo (dropped and re-created by every run).
DEMO_SCHEMA = "abwb_demo"
_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def demo_settings(settings: Settings) -> Settings:
    """The settings the demo runs with: the default workspace unless PostgreSQL is set.

    Args:
        settings: The process settings (``Settings.from_env()``).

    Returns:
        ``settings`` with the embedded database at ``$ABWB_HOME/abwb.db`` (the default
        workspace every other command reads), as an absolute path.

    Examples:
        >>> from pathlib import Path
        >>> from abwb.settings import DatabaseSettings
        >>> s = demo_settings(Settings(database=DatabaseSettings(home=Path("/tmp/h"))))
        >>> s.database.effective_url
        'sqlite:////tmp/h/abwb.db'
    """
    if settings.database.url is not None:
        return settings
    url = f"sqlite:///{(settings.database.home.resolve() / 'abwb.db').as_posix()}"
    return replace(settings, database=replace(settings.database, url=url))


#: Written next to the SQLite workspace the demo created: it may reset that file again.
DEMO_MARKER = "demo-workspace"


def _check_resettable(path: Path) -> None:
    """Refuse to delete a SQLite workspace that holds data the demo did not write."""
    if not path.exists() or (path.parent / DEMO_MARKER).exists():
        return
    import sqlite3

    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            tables = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                " AND name != 'schema_version'")]
            used = any(
                conn.execute(f'SELECT 1 FROM "{t}" LIMIT 1').fetchone() for t in tables
            )
    except sqlite3.Error as exc:
        raise StorageError(f"cannot read {path} to check it is the demo's: {exc}") from exc
    if used:
        raise StorageError(
            f"{path} holds a workspace the demo did not create, and the demo resets its "
            "workspace on every run; run the demo elsewhere (ABWB_HOME=/tmp/abwb-demo "
            "abwb demo) or move that file away"
        )


def reset_workspace(settings: Settings, *, schema: str = DEMO_SCHEMA) -> None:
    """Remove the demo's previous data: its SQLite file, or its PostgreSQL schema.

    Args:
        settings: Demo settings (see :func:`demo_settings`).
        schema: The demo's PostgreSQL schema; ``public`` is refused.

    Raises:
        InvalidInput: ``schema`` is not a plain lowercase identifier, or is ``public``.
        StorageError: the database cannot be reached or the file cannot be removed.
    """
    if not _SCHEMA.match(schema) or schema == "public":
        raise InvalidInput(
            f"must be a lowercase SQL identifier other than 'public', got {schema!r}",
            path="schema",
        )
    if settings.database.is_postgres:
        _drop_schema(settings.database.effective_url, schema)
        return
    path = Path(settings.database.effective_url.removeprefix("sqlite:///"))
    _check_resettable(path)
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        try:
            candidate.unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot reset the demo database {candidate}: {exc}") from exc
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / DEMO_MARKER).write_text(
            f"{path.name} was created by `abwb demo`, which resets it on every run.\n",
            encoding="utf-8",
        )
    except OSError as exc:
        raise StorageError(f"cannot mark {path} as the demo's: {exc}") from exc


def _drop_schema(url: str, schema: str) -> None:
    from abwb.store.postgres import reset_schema  # the postgres extra is needed only here

    reset_schema(url, schema)


@dataclass(slots=True)
class DemoWorkspace:
    """The demo's stores, cache and config snapshot; close it when done.

    Attributes:
        settings: Demo settings (database URL of the demo, reports directory).
        schema: PostgreSQL schema (``None`` on SQLite).
        config: Config store (announcing writes on Redis when Redis is configured).
        events: Event store.
        alerts: Alert store of the monitor.
        cache: Assignment cache (Redis or in-process).
        holder: Config snapshot holder, kept current by ``watcher``.
        watcher: Fan-out: polling, plus Redis pub/sub when Redis is configured.
        backend: Human-readable description of where the data lives.
    """

    settings: Settings
    schema: str | None
    config: ConfigStore
    events: EventStore
    alerts: Any
    cache: AssignmentCache
    holder: ConfigSnapshotHolder
    watcher: ConfigWatcher
    backend: str
    _closers: list[Any] = field(default_factory=list)

    def wait_for_version(self, version: int, *, timeout_s: float = 5.0) -> float:
        """Block until the snapshot serves ``version``; returns the seconds waited.

        Raises:
            StorageError: the snapshot did not reach ``version`` in ``timeout_s``.
        """
        started = time.perf_counter()
        if not self.holder.wait_for(version, timeout_s):
            raise StorageError(
                f"config snapshot still at version {self.holder.version} after {timeout_s} s, "
                f"expected {version}"
            )
        return time.perf_counter() - started

    def close(self) -> None:
        """Stop the watcher and close every store and connection (best effort, in order)."""
        self.watcher.stop()
        for closer in reversed(self._closers):
            closer()
        self._closers.clear()


def open_workspace(
    settings: Settings, *, schema: str = DEMO_SCHEMA, reset: bool = True, poll_s: float = 0.05
) -> DemoWorkspace:
    """Open (and by default reset) the demo's workspace.

    Args:
        settings: Process settings; the demo's own database is derived from them.
        schema: PostgreSQL schema of the demo (ignored on SQLite).
        reset: Drop the previous demo data first.
        poll_s: Polling interval of the config watcher (the fallback fan-out).

    Returns:
        The open workspace.

    Raises:
        InvalidInput: bad schema name.
        StorageError: a store cannot be opened.
    """
    settings = demo_settings(settings)
    if reset:
        reset_workspace(settings, schema=schema)
    is_pg = settings.database.is_postgres
    closers: list[Any] = []
    stores = open_stores(settings, schema=schema if is_pg else None)
    closers.append(stores.close)
    config: ConfigStore = stores.config
    events, alerts = stores.events, stores.alerts  # the stores' own database and pool
    try:
        redis_url = settings.cache.redis_url
        cache: AssignmentCache = MemoryAssignmentCache()
        channel = f"abwb:{schema}:config"
        if redis_url:
            from abwb.cache.redis import RedisAssignmentCache

            cache = RedisAssignmentCache(redis_url, prefix=f"abwb:{schema}:")
            publisher = RedisConfigPublisher(redis_url, channel=channel)
            closers.append(publisher.close)
            config = PublishingConfigStore(config, publisher)
        holder = ConfigSnapshotHolder()
        holder.start(config)
        watcher = ConfigWatcher(holder, config, poll_s=poll_s, redis_url=redis_url,
                                channel=channel).start()
    except BaseException:
        for closer in reversed(closers):
            closer()
        raise
    where = settings.database.effective_url
    store = f"PostgreSQL (schema {schema})" if is_pg else f"SQLite {where.removeprefix('sqlite:///')}"
    backend = store + (" + Redis" if settings.cache.redis_url else " + in-process cache")
    return DemoWorkspace(settings=settings, schema=schema if is_pg else None, config=config,
                         events=events, alerts=alerts, cache=cache, holder=holder,
                         watcher=watcher, backend=backend, _closers=closers)
