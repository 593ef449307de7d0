"""In-process assignment cache: the embedded default (one process, bounded memory)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence

from abwb.cache.recent import RecentKeys

__all__ = ["MemoryAssignmentCache"]


class MemoryAssignmentCache:
    """Sticky assignments and exposure de-duplication in process memory.

    Least-recently-used sticky assignments are evicted beyond ``max_units``, and the
    oldest exposure marks beyond ``max_exposures`` (:class:`~abwb.cache.recent.RecentKeys`:
    the newest half is always remembered), so a long-running process cannot grow
    without bound.

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
        self._exposures = RecentKeys(max_exposures)
        self._max_units = max_units
        self._clock = clock

    #: The exposure marks live in this process: the exposure log's own memory covers them.
    exposure_marks_shared = False

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
        return self._exposures.first(key, self._clock(), ttl_s)

    async def first_exposures(self, keys: Sequence[str], ttl_s: float) -> list[bool]:
        """:meth:`first_exposure` for each of ``keys``, in order (one clock read, no awaits)."""
        now = self._clock()
        first = self._exposures.first
        return [first(key, now, ttl_s) for key in keys]

    async def forget_exposure(self, key: str) -> None:
        """Remove ``key`` (see :meth:`first_exposure`)."""
        self._exposures.discard(key)

    async def close(self) -> None:
        """Nothing to release."""
