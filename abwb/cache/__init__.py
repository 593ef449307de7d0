"""Assignment cache port and its implementations."""

from abwb.cache.memory import MemoryAssignmentCache
from abwb.cache.protocol import AssignmentCache

__all__ = [
    "AssignmentCache",
    "CircuitBreaker",
    "MemoryAssignmentCache",
    "RedisAssignmentCache",
    "RedisContextProvider",
]

#: Redis adapters load on first use, so the core install works without the redis extra.
_REDIS = {"CircuitBreaker", "RedisAssignmentCache", "RedisContextProvider"}


def __getattr__(name: str) -> object:
    if name in _REDIS:
        from abwb.cache import redis

        return getattr(redis, name)
    raise AttributeError(f"module 'abwb.cache' has no attribute {name!r}")
