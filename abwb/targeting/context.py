"""Context providers: where a unit's targeting attributes come from.

A request carries some attributes (country, app version); others are stored per
unit (plan, signup date, staff flag). A :class:`ContextProvider` merges the two
before targeting runs — the request wins, field by field, at any depth. The
in-process :class:`MemoryContextProvider` lives here; networked providers (Redis)
implement the same protocol in their adapters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from abwb.errors import InvalidInput

__all__ = ["ContextProvider", "MemoryContextProvider", "merge_attributes"]


@runtime_checkable
class ContextProvider(Protocol):
    """Supplies a unit's stored attributes merged with the request's."""

    async def attributes(
        self, unit_type: str, unit_id: str, request: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Stored attributes of the unit overlaid with ``request`` (request wins)."""
        ...

    async def close(self) -> None:
        """Release resources."""
        ...


def merge_attributes(stored: Mapping[str, Any], request: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``request`` over ``stored``: nested mappings merge, other values replace.

    A ``None`` in the request replaces a stored value (the caller said "unknown").

    Args:
        stored: Attributes kept for the unit.
        request: Attributes sent with the request.

    Returns:
        A new mapping; neither argument is modified.

    Examples:
        >>> merge_attributes({"plan": "pro", "app": {"version": "4.1.0", "build": 7}},
        ...                  {"app": {"version": "4.2.0"}, "country": "DE"})
        {'plan': 'pro', 'app': {'version': '4.2.0', 'build': 7}, 'country': 'DE'}
    """
    merged = dict(stored)
    for key, value in request.items():
        old = merged.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            merged[key] = merge_attributes(old, value)
        else:
            merged[key] = value
    return merged


class MemoryContextProvider:
    """Attributes kept in this process (tests, notebooks, single-node deployments).

    Args:
        stored: Initial attributes, keyed by ``(unit_type, unit_id)``.

    Examples:
        >>> import asyncio
        >>> provider = MemoryContextProvider()
        >>> provider.put("user", "u1", {"plan": "pro", "country": "US"})
        >>> asyncio.run(provider.attributes("user", "u1", {"country": "CA"}))
        {'plan': 'pro', 'country': 'CA'}
    """

    def __init__(
        self, stored: Mapping[tuple[str, str], Mapping[str, Any]] | None = None
    ) -> None:
        self._stored: dict[tuple[str, str], dict[str, Any]] = {
            key: dict(attrs) for key, attrs in (stored or {}).items()
        }

    def put(self, unit_type: str, unit_id: str, attributes: Mapping[str, Any]) -> None:
        """Store (replace) a unit's attributes.

        Raises:
            InvalidInput: ``attributes`` is not a mapping.
        """
        if not isinstance(attributes, Mapping):
            raise InvalidInput(
                f"must be a mapping of attributes, got {type(attributes).__name__}",
                path="attributes",
            )
        self._stored[(unit_type, unit_id)] = dict(attributes)

    def forget(self, unit_type: str, unit_id: str) -> None:
        """Drop a unit's stored attributes (no error if there are none)."""
        self._stored.pop((unit_type, unit_id), None)

    async def attributes(
        self, unit_type: str, unit_id: str, request: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Stored attributes of the unit overlaid with ``request`` (request wins)."""
        return merge_attributes(self._stored.get((unit_type, unit_id), {}), request or {})

    async def close(self) -> None:
        """Nothing to release."""
