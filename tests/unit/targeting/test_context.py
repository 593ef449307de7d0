"""Context providers merge stored attributes with the request's; the request wins."""

from __future__ import annotations

import asyncio

import pytest

from abwb.errors import InvalidInput
from abwb.targeting import ContextProvider, MemoryContextProvider, merge_attributes


def test_memory_provider_merges_and_request_wins() -> None:
    provider = MemoryContextProvider({("user", "u1"): {"plan": "pro", "app": {"build": 7}}})
    assert isinstance(provider, ContextProvider)
    got = asyncio.run(provider.attributes("user", "u1", {"app": {"version": "4.2.0"},
                                                         "plan": "free"}))
    assert got == {"plan": "free", "app": {"build": 7, "version": "4.2.0"}}
    assert asyncio.run(provider.attributes("device", "u1", {"x": 1})) == {"x": 1}
    assert asyncio.run(provider.attributes("user", "nobody")) == {}
    provider.forget("user", "u1")
    assert asyncio.run(provider.attributes("user", "u1")) == {}
    asyncio.run(provider.close())


def test_merge_does_not_mutate_and_null_overrides() -> None:
    stored = {"app": {"version": "1.0.0"}, "country": "US"}
    merged = merge_attributes(stored, {"country": None, "app": "web"})
    assert merged == {"app": "web", "country": None}
    assert stored == {"app": {"version": "1.0.0"}, "country": "US"}


def test_put_rejects_non_mappings() -> None:
    with pytest.raises(InvalidInput, match="attributes: must be a mapping"):
        MemoryContextProvider().put("user", "u1", ["plan"])  # type: ignore[arg-type]
