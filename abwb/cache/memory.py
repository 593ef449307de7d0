"""In-process assignment cache: the embedded default (one process, bounded memory)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence

__all__ = ["MemoryAssignmentCache"]


class MemoryAssignmentCache:
    """Sticky assignments and exposure de-duplication in process memory.

    Least-recently-used entries are evicted beyond ``max_units`` / ``max_exposures``
    so a long-running process cannot grow without bound.

    Args:
        max_units: Units whose sticky assignments are kept.
        max_exposures: Exposure keys remembered for de-duplication.
        clock: Monotonic clock in seconds (injectable for tests).
    """

    def __init__(
        self,
        *,
        max_units: int = 1_000_000,
        max_exposures: int = 1_000_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sticky: OrderedDict[tuple[str, str], dict[str, str]] = OrderedDict()
        self._exposures: OrderedDict[str, float] = OrderedDict()
        self._max_units = max_units
        self._max_exposures = max_exposures
        self._clock = clock

    async def get_sticky(self, unit_type: str, unit_id: str) -> dict[str, str]:
        """Stored sticky assignments of a unit."""
        key = (unit_type, unit_id)
        found = self._sticky.get(key)
        if found is None:
            return {}
        self._sticky.move_to_end(key)
        return dict(found)

    async def set_sticky(
        self, unit_type: str, unit_id: str, assignments: Mapping[str, str]
    ) -> None:
        """Merge sticky assignments of a unit."""
        key = (unit_type, unit_id)
        self._sticky.setdefault(key, {}).update(assignments)
        self._sticky.move_to_end(key)
        while len(self._sticky) > self._max_units:
            self._sticky.popitem(last=False)

    async def first_exposure(self, key: str, ttl_s: float) -> bool:
        """``True`` the first time ``key`` is seen within ``ttl_s`` seconds."""
        return self._mark(key, self._clock(), ttl_s)

    async def first_exposures(self, keys: Sequence[str], ttl_s: float) -> list[bool]:
        """:meth:`first_exposure` for each of ``keys``, in order (one clock read, no awaits)."""
        now = self._clock()
        return [self._mark(key, now, ttl_s) for key in keys]

    def _mark(self, key: str, now: float, ttl_s: float) -> bool:
        expires = self._exposures.get(key)
        if expires is not None and expires > now:
            return False
        self._exposures[key] = now + ttl_s
        self._exposures.move_to_end(key)
        if len(self._exposures) > self._max_exposures:
            self._exposures.popitem(last=False)
        return True

    async def forget_exposure(self, key: str) -> None:
        """Remove ``key`` (see :meth:`first_exposure`)."""
        self._exposures.pop(key, None)

    async def close(self) -> None:
        """Nothing to release."""
