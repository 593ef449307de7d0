"""The ``AssignmentCache`` port: sticky assignments and exposure de-duplication."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

__all__ = ["AssignmentCache"]


@runtime_checkable
class AssignmentCache(Protocol):
    """Per-unit state the assignment path may keep between requests.

    Implementations: :class:`~abwb.cache.memory.MemoryAssignmentCache` (embedded
    default) and a Redis one (production). Failures raise
    :class:`~abwb.errors.CacheError`; callers degrade (skip sticky lookups, count it).
    """

    @property
    def exposure_marks_shared(self) -> bool:
        """Whether the exposure marks are shared between processes (Redis).

        The exposure log checks each batch against shared marks (:meth:`first_exposures`,
        one call per batch). In-process marks (``False``) would only repeat the log's
        own memory of what this process offered, so it makes no cache call.
        """
        ...

    async def get_sticky(self, unit_type: str, unit_id: str) -> dict[str, str]:
        """Stored sticky assignments of a unit: ``sticky_key`` → variant."""
        ...

    async def set_sticky(
        self, unit_type: str, unit_id: str, assignments: Mapping[str, str]
    ) -> None:
        """Store (merge) sticky assignments of a unit."""
        ...

    async def first_exposure(self, key: str, ttl_s: float) -> bool:
        """Record an exposure key; ``True`` only the first time within ``ttl_s``."""
        ...

    async def first_exposures(self, keys: Sequence[str], ttl_s: float) -> list[bool]:
        """Record many exposure keys in one call (one Redis round trip).

        Returns, for each key in order, what :meth:`first_exposure` would have answered
        had the keys been recorded one after the other (a key repeated in ``keys`` is
        ``True`` at most once).
        """
        ...

    async def forget_exposure(self, key: str) -> None:
        """Remove an exposure key recorded by :meth:`first_exposure`.

        For an exposure that was marked but could not be stored anywhere: the next
        offer of the same exposure is then logged again instead of being skipped.
        """
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
