"""Feature flag definitions: typed variations, ordered rules, prerequisites, kill switch."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from abwb.config.validation import ProblemList, check_key, check_payload, raise_if

__all__ = ["Flag", "FlagRule", "FlagType", "Prerequisite", "SplitShare"]

FlagType = Literal["bool", "string", "number", "json"]
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "bool": (bool,),
    "string": (str,),
    "number": (int, float),
    "json": (dict, list, str, int, float, bool, type(None)),
}


class SplitShare(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One share of a percentage split: a variation and its weight (weights sum to 1)."""

    variation: str
    weight: float


class FlagRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """An ordered rule: when ``condition`` matches, serve a fixed variation, a split,
    or delegate to an experiment (whose variant payload becomes the value).
    """

    condition: Any = None
    variation: str | None = None
    split: list[SplitShare] | None = None
    experiment: str | None = None
    description: str = ""


class Prerequisite(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """This flag only evaluates its rules when flag ``key`` serves ``variation``."""

    key: str
    variation: str


class Flag(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A feature flag with typed variations and a kill switch.

    Args:
        key: Unique slug.
        type: Type of every variation value.
        variations: Variation key → value.
        default_variation: Served when the flag is on and no rule matches.
        off_variation: Served to everyone while ``killed`` (the kill switch).
        rules: Evaluated in order; the first match wins.
        prerequisites: Other flags that must serve a given variation first.
        salt: Salt for percentage splits (defaults to ``flag:{key}``).
    """

    key: str
    type: FlagType
    variations: dict[str, Any]
    default_variation: str
    off_variation: str
    rules: list[FlagRule] = msgspec.field(default_factory=list)
    prerequisites: list[Prerequisite] = msgspec.field(default_factory=list)
    killed: bool = False
    salt: str = ""
    name: str = ""
    description: str = ""
    version: int = 0

    def __post_init__(self) -> None:
        raise_if(self.problems())

    @property
    def effective_salt(self) -> str:
        """The salt actually hashed for splits."""
        return self.salt or f"flag:{self.key}"

    def problems(self) -> ProblemList:
        """Self-contained problems."""
        problems = ProblemList()
        check_key(problems, "key", self.key)
        if not self.variations:
            problems.add("variations", "needs at least one variation")
        allowed = _PYTHON_TYPES[self.type]
        for name, value in self.variations.items():
            path = f"variations[{name!r}]"
            is_bool = isinstance(value, bool)
            if not isinstance(value, allowed) or (self.type == "number" and is_bool):
                problems.add(path, f"must be a {self.type} value, got {value!r}")
            check_payload(problems, path, value)
        for field in ("default_variation", "off_variation"):
            name = getattr(self, field)
            if name not in self.variations:
                problems.add(field, f"unknown variation {name!r}; have {sorted(self.variations)}")
        for i, rule in enumerate(self.rules):
            self._check_rule(problems, f"rules[{i}]", rule)
        for i, pre in enumerate(self.prerequisites):
            if pre.key == self.key:
                problems.add(f"prerequisites[{i}].key", "a flag cannot require itself")
        return problems

    def _check_rule(self, problems: ProblemList, path: str, rule: FlagRule) -> None:
        outcomes = [rule.variation is not None, rule.split is not None, rule.experiment is not None]
        if sum(outcomes) != 1:
            problems.add(path, "needs exactly one of 'variation', 'split', 'experiment'")
        if rule.variation is not None and rule.variation not in self.variations:
            problems.add(f"{path}.variation", f"unknown variation {rule.variation!r}")
        if rule.split is not None:
            total = 0.0
            for j, share in enumerate(rule.split):
                if share.variation not in self.variations:
                    problems.add(f"{path}.split[{j}].variation", f"unknown {share.variation!r}")
                if not 0 <= share.weight <= 1:
                    problems.add(
                        f"{path}.split[{j}].weight", f"must be in [0, 1], got {share.weight}"
                    )
                total += share.weight
            if abs(total - 1) > 1e-9:
                problems.add(f"{path}.split", f"weights must sum to 1, got {total!r}")
