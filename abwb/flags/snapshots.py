"""Flag evaluators that follow a config snapshot holder: one evaluator per snapshot.

A snapshot holder (:class:`abwb.snapshot.holder.ConfigSnapshotHolder`) swaps in newer
config versions; :class:`SnapshotEvaluators` compiles a :class:`FlagEvaluator` the first
time each snapshot is read and reuses it until the snapshot changes, so the hot path
stays one attribute read and a dictionary lookup. It reuses the snapshot's assigner, so
flags that delegate to experiments answer exactly like the assignment API.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from abwb.assignment.engine import Assigner, ConditionCompiler
from abwb.config.bundle import ConfigBundle
from abwb.flags.evaluator import FlagEvaluator

__all__ = ["SnapshotEvaluators", "SnapshotLike"]


class SnapshotLike(Protocol):
    """What an evaluator needs from a snapshot: the bundle and its compiled assigner."""

    @property
    def bundle(self) -> ConfigBundle:
        """The config."""
        ...

    @property
    def assigner(self) -> Assigner:
        """The compiled assigner of ``bundle``."""
        ...


class SnapshotEvaluators:
    """Callable returning the :class:`FlagEvaluator` of the current snapshot.

    Args:
        current: Returns the current snapshot (e.g. ``lambda: holder.current``).
        compile_condition: Condition compiler for flag rules (default: targeting's).

    Examples:
        >>> from types import SimpleNamespace
        >>> from abwb.assignment import Assigner
        >>> snap = SimpleNamespace(bundle=ConfigBundle(version=4),
        ...                        assigner=Assigner(ConfigBundle(version=4)))
        >>> evaluators = SnapshotEvaluators(lambda: snap)
        >>> evaluators().version, evaluators() is evaluators()
        (4, True)
    """

    def __init__(
        self,
        current: Callable[[], SnapshotLike],
        *,
        compile_condition: ConditionCompiler | None = None,
    ) -> None:
        self._current = current
        self._compile_condition = compile_condition
        self._lock = threading.Lock()
        self._snapshot: SnapshotLike | None = None
        self._evaluator: FlagEvaluator | None = None

    def __call__(self) -> FlagEvaluator:
        """The evaluator of the current snapshot (compiled on first use)."""
        snapshot = self._current()
        compiled = getattr(snapshot, "flags", None)
        if isinstance(compiled, FlagEvaluator) and self._compile_condition is None:
            return compiled  # abwb.snapshot compiles one evaluator per snapshot already
        evaluator = self._evaluator
        if snapshot is self._snapshot and evaluator is not None:
            return evaluator
        built = FlagEvaluator(
            snapshot.bundle, snapshot.assigner, compile_condition=self._compile_condition
        )
        with self._lock:
            # Never install an evaluator older than the one another thread installed.
            if self._evaluator is None or built.version >= self._evaluator.version:
                self._snapshot, self._evaluator = snapshot, built
            return self._evaluator
