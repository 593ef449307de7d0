"""Feature flag definitions: typed variations, ordered rules, prerequisites, kill switch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal

import msgspec

from abwb.config.validation import (
    FRACTION,
    NON_EMPTY,
    ProblemList,
    check_key,
    check_payload,
    raise_if,
)

__all__ = [
    "RULE_OUTCOMES",
    "Flag",
    "FlagRule",
    "FlagType",
    "Prerequisite",
    "SplitShare",
    "flag_value_matches",
    "prerequisite_cycles",
]

FlagType = Literal["bool", "string", "number", "json"]
#: A rule serves exactly one of these outcomes.
RULE_OUTCOMES = ("variation", "split", "experiment")
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "bool": (bool,),
    "string": (str,),
    "number": (int, float),
    "json": (dict, list, str, int, float, bool, type(None)),
}


def flag_value_matches(flag_type: FlagType, value: Any) -> bool:
    """Whether ``value`` is a valid value of a ``flag_type`` flag (``True`` is no number).

    Examples:
        >>> flag_value_matches("number", 3), flag_value_matches("number", True)
        (True, False)
    """
    allowed = _PYTHON_TYPES.get(flag_type)
    if allowed is None or not isinstance(value, allowed):
        return False
    return not (flag_type == "number" and isinstance(value, bool))


class SplitShare(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One share of a percentage split: a variation and its weight (weights sum to 1).

    Args:
        variation: A variation key.
        weight: Its share of the split (weights sum to 1).
    """

    variation: str
    weight: Annotated[float, FRACTION]


class FlagRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """An ordered rule: when ``condition`` matches, serve its outcome.

    The outcome is a fixed variation, a percentage split, or a delegation to an
    experiment (whose variant payload becomes the value).

    Args:
        condition: Targeting condition (JSON) a unit must match; `null` matches everyone.
        variation: The variation served on a match (or use `split` or `experiment`).
        split: Percentage split between variations on a match.
        experiment: Serve the variant of this experiment (variant keys name variations).
        description: What the rule is for.
    """

    condition: Any = None
    variation: str | None = None
    split: list[SplitShare] | None = None
    experiment: str | None = None
    description: str = ""


class Prerequisite(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """This flag only evaluates its rules when flag ``key`` serves ``variation``.

    Args:
        key: Key of the flag that must serve `variation` first.
        variation: The variation the prerequisite flag must serve.
    """

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
        killed: Kill switch: when true every unit gets `off_variation`.
        name: Human-readable name.
        description: What the flag controls.
        version: Optimistic-concurrency version, set by the store (ignored on create).
    """

    key: str
    type: FlagType
    variations: Annotated[dict[str, Any], NON_EMPTY]
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
        if not NON_EMPTY.contains(self.variations):
            problems.add("variations", "needs at least one variation")
        for name, value in self.variations.items():
            path = f"variations[{name!r}]"
            if not flag_value_matches(self.type, value):
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
        if sum(getattr(rule, outcome) is not None for outcome in RULE_OUTCOMES) != 1:
            problems.add(path, "needs exactly one of 'variation', 'split', 'experiment'")
        if rule.variation is not None and rule.variation not in self.variations:
            problems.add(f"{path}.variation", f"unknown variation {rule.variation!r}")
        if rule.split is not None:
            total = 0.0
            for j, share in enumerate(rule.split):
                if share.variation not in self.variations:
                    problems.add(f"{path}.split[{j}].variation", f"unknown {share.variation!r}")
                if not FRACTION.contains(share.weight):
                    problems.add(
                        f"{path}.split[{j}].weight", f"must be in [0, 1], got {share.weight}"
                    )
                total += share.weight
            if abs(total - 1) > 1e-9:
                problems.add(f"{path}.split", f"weights must sum to 1, got {total!r}")


def prerequisite_cycles(flags: Iterable[Flag]) -> dict[str, list[str]]:
    """Find the flags whose prerequisites lead back to themselves.

    Args:
        flags: Every flag of a bundle (unknown prerequisite keys are ignored here).

    Returns:
        Flag key → the cycle it sits on, closed (``["a", "b", "a"]``), for every flag
        on a cycle; empty when the prerequisite graph is acyclic.

    Examples:
        >>> def f(key, *pre):
        ...     return Flag(key=key, type="bool", variations={"on": True, "off": False},
        ...                 default_variation="on", off_variation="off",
        ...                 prerequisites=[Prerequisite(p, "on") for p in pre])
        >>> prerequisite_cycles([f("a", "b"), f("b", "a"), f("c", "a")])
        {'a': ['a', 'b', 'a'], 'b': ['b', 'a', 'b']}
    """
    edges = {f.key: [p.key for p in f.prerequisites if p.key != f.key] for f in flags}
    cycles: dict[str, list[str]] = {}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    for root in edges:
        if root in state:
            continue
        # Explicit stack: a long (hostile) prerequisite chain must not hit the recursion limit.
        path: list[str] = [root]
        pending: list[list[str]] = [list(edges[root])]
        state[root] = 1
        while path:
            if not pending[-1]:
                state[path.pop()] = 2
                pending.pop()
                continue
            nxt = pending[-1].pop(0)
            if nxt not in edges:
                continue
            if state.get(nxt) == 1:
                loop = path[path.index(nxt) :]
                for i, member in enumerate(loop):
                    cycles.setdefault(member, [*loop[i:], *loop[:i], member])
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                pending.append(list(edges[nxt]))
    return cycles
