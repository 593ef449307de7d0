"""Assignment cache port and its implementations."""

from abwb.cache.memory import MemoryAssignmentCache
from abwb.cache.protocol import AssignmentCache

__all__ = ["AssignmentCache", "MemoryAssignmentCache"]
