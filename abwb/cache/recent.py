"""Bounded in-process memory of recently seen keys that never stalls the event loop.

What belongs here: :class:`RecentKeys`, the one structure behind in-process exposure
de-duplication (the :class:`~abwb.cache.memory.MemoryAssignmentCache`'s marks, and the
:class:`~abwb.events.exposure_log.ExposureLog`'s memory of what it logged moments ago).

Why not an ``OrderedDict`` evicting its oldest entry: with keys churning through it, a
dict compacts its table every few hundred thousand insertions, copying every entry at
once. Measured at the API's sizes (a million exposure keys, a new unit in 20
experiments per request), those compactions held the GIL for up to ~100 ms: the
assignment p99 at concurrency 16 went from ~5 ms to 30-38 ms, and throughput fell
~15 %. Two generations of plain dicts never compact (no deletions), and the retired
generation is released a key per insertion, so no operation touches more than a
bounded part of the memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

__all__ = ["RecentKeys"]

_FOREVER = float("inf")
T = TypeVar("T")


class RecentKeys:
    """Keys remembered with an expiry, in two generations of at most ``capacity // 2``.

    New keys go to the young generation. When it holds ``capacity // 2`` keys it
    becomes the old one, and the previous old generation is forgotten (its keys are
    released one per later insertion). So the newest ``capacity // 2`` keys are always
    remembered, at most ``capacity`` are, and the oldest are forgotten first.

    Args:
        capacity: Most keys remembered (at least 2).

    Examples:
        >>> recent = RecentKeys(4)
        >>> recent.first("a", now=0.0, ttl_s=10.0), recent.first("a", now=5.0, ttl_s=10.0)
        (True, False)
        >>> recent.first("a", now=10.0, ttl_s=10.0)  # expired: seen anew
        True
        >>> recent.unseen(["a", "b"], [1, 2])
        [('b', 2)]
    """

    __slots__ = ("_half", "_old", "_retired", "_young")

    def __init__(self, capacity: int) -> None:
        if capacity < 2:
            raise ValueError(f"capacity must be at least 2, got {capacity}")
        self._half = capacity // 2
        self._young: dict[str, float] = {}
        self._old: dict[str, float] = {}
        self._retired: dict[str, float] = {}

    def __len__(self) -> int:
        """Keys remembered (expired ones included until they are forgotten)."""
        return len(self._young) + len(self._old)

    def first(self, key: str, now: float, ttl_s: float) -> bool:
        """Whether ``key`` is new (or expired) at ``now``; then remember it for ``ttl_s``."""
        expires = self._young.get(key)
        if expires is None:
            expires = self._old.get(key)
        if expires is not None and expires > now:
            return False
        self._put(key, now + ttl_s)
        return True

    def unseen(self, keys: Sequence[str], items: Sequence[T]) -> list[tuple[str, T]]:
        """The ``(key, item)`` pairs whose key is not remembered (expiry ignored), in order."""
        young, old = self._young, self._old
        return [
            (k, item)
            for k, item in zip(keys, items, strict=True)
            if k not in young and k not in old
        ]

    def add_all(self, keys: Sequence[str]) -> None:
        """Remember ``keys`` without expiry (until they are forgotten as the oldest).

        One call for a request's keys; the young generation may then pass
        ``capacity // 2`` by less than ``len(keys)`` before it turns old.
        """
        young = self._young
        young.update(dict.fromkeys(keys, _FOREVER))
        self._release(2 * len(keys))
        if len(young) >= self._half:
            self._turn()

    def discard(self, key: str) -> None:
        """Forget ``key`` (nothing happens when it is not remembered)."""
        self._young.pop(key, None)
        self._old.pop(key, None)

    def _put(self, key: str, expires: float) -> None:
        young = self._young
        young[key] = expires
        if self._retired:
            self._release(2)
        if len(young) >= self._half:
            self._turn()

    def _release(self, n: int) -> None:
        """Free up to ``n`` keys of the retired generation.

        A little at a time: freeing half a million keys at once would hold the GIL
        for tens of milliseconds.
        """
        retired = self._retired
        for _ in range(min(n, len(retired))):
            retired.popitem()

    def _turn(self) -> None:
        """The young generation becomes the old one; the old one is retired."""
        self._retired.clear()  # already empty: two keys released per insertion
        self._retired = self._old
        self._old = self._young
        self._young = {}
