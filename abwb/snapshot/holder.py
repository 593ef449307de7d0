"""The in-process config snapshot that the assignment hot path reads.

What belongs here: :class:`ConfigSnapshot` (an immutable bundle + its compiled
:class:`~abwb.assignment.engine.Assigner` and :class:`~abwb.flags.FlagEvaluator`) and
:class:`ConfigSnapshotHolder`, which
swaps snapshots atomically and only forward: a snapshot never replaces a newer one,
so a late or replayed notification (say, Redis coming back after an outage) cannot
undo a kill switch. Reading :attr:`ConfigSnapshotHolder.current` is one attribute
read — no database or Redis round trip per request. How changes arrive (polling,
Redis pub/sub, PostgreSQL NOTIFY) is :mod:`abwb.snapshot.fanout`'s business.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from abwb.assignment.engine import Assigner
from abwb.config.bundle import ConfigBundle
from abwb.errors import AbwbError, StorageError
from abwb.flags.evaluator import FlagEvaluator
from abwb.snapshot.quarantine import QuarantinedObject, compile_valid
from abwb.snapshot.snapshot_file import read_snapshot_file, write_snapshot_file

__all__ = ["ConfigSnapshot", "ConfigSnapshotHolder", "VersionedConfigSource", "compile_bundle"]

log = logging.getLogger(__name__)


class VersionedConfigSource(Protocol):
    """The part of a :class:`~abwb.store.ConfigStore` a holder needs."""

    def config_version(self) -> int:
        """The current global config version."""
        ...

    def load_bundle(self) -> ConfigBundle:
        """Everything, with ``version`` set."""
        ...


def compile_bundle(bundle: ConfigBundle) -> Assigner:
    """The assigner of ``bundle``, with targeting conditions compiled against its segments.

    Raises:
        InvalidInput: a condition does not compile.
    """
    from abwb.targeting import make_compiler

    return Assigner(bundle, compile_condition=make_compiler(bundle.segments))


@dataclass(frozen=True, slots=True)
class ConfigSnapshot:
    """One immutable config version, compiled and ready to serve.

    Args:
        bundle: The config.
        assigner: The compiled assigner of ``bundle``.
        flags: The flag evaluator of ``bundle`` (sharing ``assigner``, so flags that
            delegate to experiments answer exactly like assignment).
        source: Where it came from (``store``, ``file``, ``bundle``).
        loaded_at: Monotonic time it was installed.
        quarantined: Objects of the stored config left out because they do not
            compile (:func:`~abwb.snapshot.quarantine.compile_valid`); health checks
            report them. ``bundle`` is what is served, without them.
    """

    bundle: ConfigBundle
    assigner: Assigner
    flags: FlagEvaluator
    source: str
    loaded_at: float
    quarantined: tuple[QuarantinedObject, ...] = ()

    @property
    def version(self) -> int:
        """The config version."""
        return self.bundle.version


class ConfigSnapshotHolder:
    """Holds the current snapshot; replaces it only with a strictly newer version.

    Args:
        compile: Builds the assigner of a bundle (default: :func:`compile_bundle`, with
            the targeting compiler bound to the bundle's segments).
        snapshot_file: Where the last-known-good snapshot is saved after each install
            from the store, and read from when the store is down at start-up.

    Examples:
        >>> holder = ConfigSnapshotHolder()
        >>> holder.offer(ConfigBundle(version=3), source="bundle")
        True
        >>> holder.offer(ConfigBundle(version=2), source="bundle")  # older: ignored
        False
        >>> holder.version
        3
    """

    def __init__(
        self,
        *,
        compile: Callable[[ConfigBundle], Assigner] = compile_bundle,
        snapshot_file: str | Path | None = None,
    ) -> None:
        self._compile = compile
        self.snapshot_file = None if snapshot_file is None else Path(snapshot_file)
        self._current: ConfigSnapshot | None = None
        self._source: VersionedConfigSource | None = None
        self._confirmed_at = 0.0
        #: The last refresh failure (``None`` once a refresh succeeds), for health checks.
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        #: Counts of ``installed``, ``stale_ignored``, ``refresh_failed``,
        #: ``file_write_failed`` and ``quarantined`` (objects left out of snapshots).
        self.counters: Counter[str] = Counter()

    @property
    def current(self) -> ConfigSnapshot:
        """The snapshot to serve.

        Raises:
            StorageError: nothing has been loaded yet.
        """
        snapshot = self._current
        if snapshot is None:
            raise StorageError("no config snapshot loaded yet (call start() or offer())")
        return snapshot

    @property
    def version(self) -> int:
        """Version of the current snapshot (-1 before the first)."""
        snapshot = self._current
        return -1 if snapshot is None else snapshot.version

    @property
    def age_s(self) -> float:
        """Seconds since the snapshot was installed or last confirmed current."""
        snapshot = self._current
        if snapshot is None:
            return float("inf")
        return time.monotonic() - max(snapshot.loaded_at, self._confirmed_at)

    @property
    def refreshes(self) -> int:
        """How many snapshots have been installed."""
        return self.counters["installed"]

    def offer(self, bundle: ConfigBundle, *, source: str = "bundle") -> bool:
        """Install ``bundle`` if it is newer than the current snapshot.

        Compilation happens outside the lock; the version check and swap inside it.
        Objects that do not compile are quarantined (left out, logged, counted and
        listed on :attr:`ConfigSnapshot.quarantined`) so one broken object never
        blocks newer versions; killed flags keep serving their off variation.

        Returns:
            Whether it was installed.

        Raises:
            AbwbError: the bundle does not compile and no object can be blamed.
        """
        if bundle.version <= self.version:
            self.counters["stale_ignored"] += 1
            return False
        served, assigner, flags, quarantined = compile_valid(bundle, self._compile)
        self.counters["quarantined"] += len(quarantined)
        snapshot = ConfigSnapshot(
            served, assigner, flags, source, time.monotonic(), quarantined
        )
        with self._changed:
            if self._current is not None and bundle.version <= self._current.version:
                self.counters["stale_ignored"] += 1
                return False
            self._current = snapshot
            self.counters["installed"] += 1
            self._changed.notify_all()
        log.info("config snapshot %d installed from %s", bundle.version, source)
        if source == "store" and self.snapshot_file is not None:
            try:
                write_snapshot_file(bundle, self.snapshot_file)
            except StorageError as exc:
                self.counters["file_write_failed"] += 1
                log.warning("last-known-good snapshot not saved: %s", exc)
        return True

    def refresh(self, store: VersionedConfigSource | None = None) -> bool:
        """Load from ``store`` if its config version is newer than the snapshot.

        Args:
            store: Where to load from; default the store given to :meth:`start`.

        Returns:
            Whether a newer snapshot was installed.

        Raises:
            StorageError: the store failed (the current snapshot keeps serving).
        """
        source = store or self._source
        if source is None:
            raise StorageError("no config store to refresh from (call start() first)")
        try:
            if source.config_version() <= self.version:
                self._confirmed_at = time.monotonic()
                self.last_error = None
                return False
            installed = self.offer(source.load_bundle(), source="store")
        except AbwbError as exc:
            self.counters["refresh_failed"] += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            raise
        self._confirmed_at = time.monotonic()
        self.last_error = None
        return installed

    def try_refresh(self) -> bool:
        """:meth:`refresh` from the bound store, keeping the current snapshot on failure.

        For callers that must not fail because the store is down (a write that already
        committed, a background watcher): the failure is logged and kept in
        :attr:`last_error`.

        Returns:
            Whether a newer snapshot was installed.
        """
        try:
            return self.refresh()
        except AbwbError as exc:
            log.warning("config refresh failed, serving version %d: %s", self.version, exc)
            return False

    def start(self, store: VersionedConfigSource) -> ConfigSnapshot:
        """Load the first snapshot: from the store, else from the snapshot file.

        Raises:
            StorageError: the store is down and no valid snapshot file exists (both
                causes named).
        """
        self._source = store
        try:
            self.refresh(store)  # an empty store (version 0) is newer than nothing (-1)
        except AbwbError as exc:
            if self.snapshot_file is None:
                raise StorageError(
                    f"cannot load config and no snapshot file is set: {exc}"
                ) from exc
            log.warning(
                "cannot load config from the store (%s); starting from %s", exc, self.snapshot_file
            )
            try:
                bundle = read_snapshot_file(self.snapshot_file)
            except StorageError as file_exc:
                raise StorageError(f"cannot load config: store: {exc}; file: {file_exc}") from exc
            self.offer(bundle, source="file")
        return self.current

    def wait_for(self, version: int, timeout_s: float) -> bool:
        """Block until the snapshot reaches ``version`` (or ``timeout_s`` passes)."""
        with self._changed:
            return self._changed.wait_for(lambda: self.version >= version, timeout_s)
