"""Saved audience segments, referenced by key from targeting conditions."""

from __future__ import annotations

from typing import Any

import msgspec

from abwb.config.validation import ProblemList, check_key, raise_if

__all__ = ["Segment"]


class Segment(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A named, reusable targeting condition (e.g. ``internal-staff``).

    Args:
        key: Unique slug referenced as ``{"segment": key}`` in conditions.
        condition: The condition (JSON) a unit's attributes must satisfy.
        name: Human-readable name.
        description: Who the segment is.
        version: Optimistic-concurrency version, set by the store (ignored on create).
    """

    key: str
    condition: Any
    name: str = ""
    description: str = ""
    version: int = 0

    def __post_init__(self) -> None:
        raise_if(self.problems())

    def problems(self) -> ProblemList:
        """Self-contained problems (the condition grammar is checked by the bundle)."""
        problems = ProblemList()
        check_key(problems, "key", self.key)
        if self.condition is None:
            problems.add("condition", "must be a condition object, got null")
        return problems
