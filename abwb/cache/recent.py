"""Bounded in-process memories of what was seen recently, that never stall the event loop.

What belongs here: the two structures behind in-process exposure de-duplication, both
built on one generational scheme (:class:`_Generations`):

- :class:`RecentUnits`, per unit the exposures (experiment → phase) the
  :class:`~abwb.events.exposure_log.ExposureLog` logged moments ago: a repeat visit is
  one lookup of the unit, not one per experiment;
- :class:`RecentKeys`, keys with an expiry: the marks behind the
  :class:`~abwb.cache.memory.MemoryAssignmentCache`'s ``first_exposure``.

Why not an ``OrderedDict`` evicting its oldest entry: with entries churning through it,
a dict compacts its table every few hundred thousand insertions, copying every entry
at once. Measured at the API's sizes (a million exposure keys, a new unit in 20
experiments per request), those compactions held the GIL for up to ~100 ms: the
assignment p99 at concurrency 16 went from ~5 ms to 30-38 ms, and throughput fell
~15 %. With two generations of plain dicts, the young one only grows (bar a rare
discard), to ``capacity // 2`` at most, so its own resizes are bounded; the old one only
shrinks; and the retired one is released two entries per insertion. No operation
touches more than a bounded part of the memory.

Why per unit (:class:`RecentUnits`) rather than per exposure key: with a new unit in 20
experiments per request, 20 key lookups in each of two generations of a million keys
(every one a cache miss) and 20 insertions cost ~18 µs a request, the largest part of
offering its exposures; one lookup of the unit and a small dict cost ~3 µs. It is also
about four times smaller (~570 bytes a unit in 20 experiments against ~2.4 kB of keys):
the experiment keys and phases are shared with the snapshot.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Protocol, TypeVar

__all__ = ["RecentKeys", "RecentUnits"]


class Exposed(Protocol):
    """What :class:`RecentUnits` reads of an exposure (a served decision)."""

    @property
    def experiment(self) -> str: ...

    @property
    def phase(self) -> int: ...


E = TypeVar("E", bound=Exposed)


class _Generations[K: Hashable, V]:
    """Entries in two generations of at most ``capacity // 2`` (see the module docstring).

    New entries go to the young generation. When it holds ``capacity // 2`` entries it
    becomes the old one, and the previous old generation is retired: its entries are
    released two per later insertion. So the newest ``capacity // 2`` entries are
    always remembered, at most ``capacity`` are, and the oldest are forgotten first.
    """

    __slots__ = ("_half", "_old", "_retired", "_young")

    def __init__(self, capacity: int) -> None:
        if capacity < 2:
            raise ValueError(f"capacity must be at least 2, got {capacity}")
        self._half = capacity // 2
        self._young: dict[K, V] = {}
        self._old: dict[K, V] = {}
        self._retired: dict[K, V] = {}

    def __len__(self) -> int:
        """Entries remembered (expired ones included until they are forgotten)."""
        return len(self._young) + len(self._old)

    def _inserted(self) -> None:
        """Book-keeping after one insertion in the young generation."""
        if self._retired:
            self._release(2)
        if len(self._young) >= self._half:
            self._turn()

    def _release(self, n: int) -> None:
        """Free up to ``n`` entries of the retired generation.

        A little at a time: freeing half a million entries at once would hold the GIL
        for tens of milliseconds.
        """
        retired = self._retired
        for _ in range(min(n, len(retired))):
            retired.popitem()

    def _turn(self) -> None:
        """The young generation becomes the old one; the old one is retired."""
        self._retired.clear()  # already empty: two entries released per insertion
        self._retired = self._old
        self._old = self._young
        self._young = {}


class RecentKeys(_Generations[str, float]):
    """Keys remembered with an expiry (at least the newest ``capacity // 2``).

    Args:
        capacity: Most keys remembered (at least 2).

    Examples:
        >>> recent = RecentKeys(4)
        >>> recent.first("a", now=0.0, ttl_s=10.0), recent.first("a", now=5.0, ttl_s=10.0)
        (True, False)
        >>> recent.first("a", now=10.0, ttl_s=10.0)  # expired: seen anew
        True
    """

    __slots__ = ()

    def first(self, key: str, now: float, ttl_s: float) -> bool:
        """Whether ``key`` is new (or expired) at ``now``; then remember it for ``ttl_s``."""
        expires = self._young.get(key)
        if expires is None:
            expires = self._old.get(key)
        if expires is not None and expires > now:
            return False
        self._young[key] = now + ttl_s
        self._inserted()
        return True

    def discard(self, key: str) -> None:
        """Forget ``key`` (nothing happens when it is not remembered)."""
        self._young.pop(key, None)
        self._old.pop(key, None)


class RecentUnits(_Generations[Hashable, dict[str, int]]):
    """Per unit, the exposures logged recently: experiment → phase (the newest units kept).

    A unit's entry moves to the young generation whenever it is marked, so a unit that
    keeps coming back stays remembered; at least the ``capacity // 2`` units marked
    most recently are remembered, at most ``capacity``.

    Args:
        capacity: Most units remembered (at least 2).

    Examples:
        >>> from types import SimpleNamespace as X
        >>> recent = RecentUnits(100)
        >>> a, b = X(experiment="a", phase=1), X(experiment="b", phase=1)
        >>> [x.experiment for x in recent.mark_new(("user", "u1"), [a, b])]
        ['a', 'b']
        >>> recent.mark_new(("user", "u1"), [a, b, X(experiment="b", phase=2)])[0].phase
        2
        >>> recent.discard(("user", "u1"), "a", 1)
        >>> [x.experiment for x in recent.mark_new(("user", "u1"), [a, b])]  # b: phase 2 now
        ['a', 'b']
    """

    __slots__ = ()

    def mark_new(self, unit: Hashable, exposures: Sequence[E]) -> list[E]:
        """Remember ``exposures`` of ``unit``; those that were not remembered, in order.

        An exposure is remembered when the unit's mark for its experiment holds its
        phase. Of exposures repeated in ``exposures``, the first is new at most.
        """
        young = self._young
        marks = young.get(unit)
        if marks is None:
            old = self._old.pop(unit, None)  # a deletion in the old one: it never grows again
            marks = young[unit] = {} if old is None else old
            self._inserted()
        new = []
        for exposure in exposures:
            experiment, phase = exposure.experiment, exposure.phase
            if marks.get(experiment) != phase:
                marks[experiment] = phase
                new.append(exposure)
        return new

    def discard(self, unit: Hashable, experiment: str, phase: int) -> None:
        """Forget that ``unit`` was exposed to ``experiment`` in ``phase`` (if remembered)."""
        for generation in (self._young, self._old):
            marks = generation.get(unit)
            if marks is not None and marks.get(experiment) == phase:
                del marks[experiment]
