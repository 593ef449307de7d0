"""A tiny condition language for flag tests (the real one lives in abwb.targeting).

Conditions are ``{"attr": name, "eq": value}`` or ``{"attr": name, "in": [...]}``; a
condition ``{"bad": ...}`` does not compile, ``{"boom": ...}`` raises when evaluated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from abwb.assignment import Predicate
from abwb.errors import InvalidInput


def tiny_compiler(condition: Any) -> Predicate:
    if not isinstance(condition, Mapping) or "bad" in condition:
        raise InvalidInput(f"cannot parse {condition!r}", path="condition")
    if "boom" in condition:
        def explode(attrs: Mapping[str, Any]) -> tuple[bool, str]:
            raise RuntimeError("predicate exploded")
        return explode
    name = condition["attr"]

    def check(attrs: Mapping[str, Any]) -> tuple[bool, str]:
        value = attrs.get(name)
        try:
            ok = value in condition["in"] if "in" in condition else value == condition.get("eq")
        except TypeError:
            ok = False
        return ok, "" if ok else f"{name}={value!r}"

    return check
