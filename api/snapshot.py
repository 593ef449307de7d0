"""The in-process config snapshot the assignment path serves from.

What belongs here: :class:`SnapshotHolder`, which keeps one immutable
:class:`ConfigSnapshot` (the bundle, its compiled :class:`~abwb.assignment.Assigner`
and flag evaluator) and swaps it atomically, only forward, when the store's
``config_version`` moves — after every write made through this process, and when
:class:`abwb.snapshot.ConfigWatcher` (polling, Redis pub/sub, PostgreSQL NOTIFY)
signals a write made elsewhere. Assignment never touches the store: when the store
is down, the last good snapshot keeps serving and the failure is recorded for
``/v1/health``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from abwb.assignment.engine import Assigner, ConditionCompiler
from abwb.config.bundle import ConfigBundle
from abwb.errors import AbwbError
from abwb.store.protocol import ConfigStore

__all__ = ["ConfigSnapshot", "SnapshotHolder", "condition_compiler"]

log = logging.getLogger(__name__)


def condition_compiler(bundle: ConfigBundle) -> ConditionCompiler | None:
    """The targeting engine's compiler bound to the bundle's segments, if installed."""
    try:
        from abwb.targeting import make_compiler
    except ImportError:  # pragma: no cover - the targeting package ships with abwb
        return None
    return make_compiler(bundle.segments)


def _flag_evaluator(bundle: ConfigBundle, assigner: Assigner) -> Any:
    try:
        from abwb.flags import FlagEvaluator
    except ImportError:  # pragma: no cover - the flags package ships with abwb
        return None
    compiler = condition_compiler(bundle)
    if compiler is None:
        return FlagEvaluator(bundle, assigner)
    return FlagEvaluator(bundle, assigner, compile_condition=compiler)


@dataclass(frozen=True, slots=True)
class ConfigSnapshot:
    """One compiled config version.

    Attributes:
        bundle: The config.
        assigner: Its compiled assignment engine.
        flags: Its flag evaluator (``None`` if flags are unavailable).
        loaded_at: Monotonic time of loading (seconds).
    """

    bundle: ConfigBundle
    assigner: Assigner
    flags: Any
    loaded_at: float

    @property
    def version(self) -> int:
        """The config version compiled."""
        return self.bundle.version


def compile_snapshot(bundle: ConfigBundle, *, clock: Callable[[], float]) -> ConfigSnapshot:
    """Compile a bundle into a snapshot.

    Raises:
        InvalidInput: the bundle cannot be compiled (e.g. a condition is invalid).
    """
    assigner = Assigner(bundle, compile_condition=condition_compiler(bundle))
    return ConfigSnapshot(bundle, assigner, _flag_evaluator(bundle, assigner), clock())


class SnapshotHolder:
    """Holds the current snapshot; refreshes it from a :class:`ConfigStore`.

    Args:
        store: Where the config lives.
        clock: Monotonic clock in seconds (injectable for tests).

    Raises:
        StorageError: the first load failed (a service cannot start without config).
    """

    def __init__(self, store: ConfigStore, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        self.last_error: str | None = None
        self.refreshes = 0
        self.current = compile_snapshot(store.load_bundle(), clock=clock)

    @property
    def age_s(self) -> float:
        """Seconds since the current snapshot was loaded."""
        return self._clock() - self.current.loaded_at

    def refresh(self) -> bool:
        """Reload when the store's config version is newer than the snapshot's.

        Safe to call from several threads (the write path and the config watcher): a
        snapshot only ever replaces an older one, so a slow refresh cannot undo a newer
        change such as a kill switch. Failures keep the current snapshot and are
        recorded in ``last_error``.

        Returns:
            Whether a new snapshot was installed.
        """
        try:
            if self._store.config_version() <= self.current.version:
                with self._lock:
                    self.current = _touch(self.current, self._clock())
                self.last_error = None
                return False
            snapshot = compile_snapshot(self._store.load_bundle(), clock=self._clock)
        except AbwbError as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("config refresh failed, serving version %d: %s", self.current.version, exc)
            return False
        with self._lock:
            if snapshot.version <= self.current.version:
                return False
            self.current = snapshot
            self.refreshes += 1
        self.last_error = None
        return True


def _touch(snapshot: ConfigSnapshot, now: float) -> ConfigSnapshot:
    """The same snapshot, confirmed current at ``now`` (its age restarts)."""
    return ConfigSnapshot(snapshot.bundle, snapshot.assigner, snapshot.flags, now)
