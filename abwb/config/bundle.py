"""The config bundle: all configuration objects together, cross-references checked.

Every experiment, segment, layer, holdout, flag, rollout and metric is decoded with
all problems collected.

A bundle is what a config-as-code file holds, what a store snapshot loads, and what
the assignment engine compiles. Each object validates itself on construction; the
bundle adds the checks that need more than one object (references, uniqueness).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from abwb.config.experiment import Experiment
from abwb.config.flag import Flag, flag_value_matches, prerequisite_cycles
from abwb.config.kinds import KINDS
from abwb.config.layer import Holdout, Layer
from abwb.config.metric import MetricDefinition
from abwb.config.rollout import Rollout
from abwb.config.segment import Segment
from abwb.config.validation import (
    ProblemList,
    check_unique,
    did_you_mean,
    raise_if,
    salvage,
    struct_problems,
)
from abwb.errors import InvalidInput, Problem

__all__ = ["SECTIONS", "ConfigBundle", "decode_object", "validate_bundle"]

#: Hook the targeting package installs to check conditions (grammar, segment refs).
ConditionChecker = Callable[[Any, str, Mapping[str, Segment]], list[Problem]]


class ConfigBundle(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """All configuration objects of one workspace, with a monotonically rising version."""

    experiments: list[Experiment] = msgspec.field(default_factory=list)
    segments: list[Segment] = msgspec.field(default_factory=list)
    layers: list[Layer] = msgspec.field(default_factory=list)
    holdouts: list[Holdout] = msgspec.field(default_factory=list)
    flags: list[Flag] = msgspec.field(default_factory=list)
    rollouts: list[Rollout] = msgspec.field(default_factory=list)
    metrics: list[MetricDefinition] = msgspec.field(default_factory=list)
    version: int = 0

    @classmethod
    def from_data(cls, data: Any, *, path: str = "") -> ConfigBundle:
        """Decode a bundle from plain data (parsed JSON/YAML), reporting every problem.

        Raises:
            InvalidInput: with every problem found, each with its path.
        """
        problems = ProblemList()
        if not isinstance(data, Mapping):
            raise InvalidInput(
                f"a config file must hold a mapping of sections, got {type(data).__name__}",
                path=path,
            )
        known = set(SECTIONS) | {"version"}
        for name in data:
            if name not in known:
                hint = did_you_mean(str(name), known) or f"; expected one of {sorted(known)}"
                problems.add(_join(path, str(name)), f"unknown section{hint}")
        sections, origins, failed = _decode_sections(data, path, problems)
        version = data.get("version", 0)
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            problems.add(_join(path, "version"), f"must be an integer >= 0, got {version!r}")
            version = 0
        bundle = cls(**sections, version=version)
        # Cross-object checks run on what did decode (and on salvaged objects), so one
        # run reports every stage; a reference to an object that failed to decode is
        # not reported twice.
        for p in validate_bundle(bundle):
            if any(f"{key!r}" in p.message for key in failed):
                continue
            message = p.message
            unknown = _UNKNOWN_REF.match(message)
            if unknown and failed:
                message += did_you_mean(unknown.group(1), failed)
            problems.add(_join(path, _original_index(p.path, origins)), message)
        raise_if(problems)
        return bundle

    def to_data(self) -> dict[str, Any]:
        """Plain data (for JSON/YAML), omitting empty sections."""
        data: dict[str, Any] = msgspec.to_builtins(self)
        return {k: v for k, v in data.items() if v or k == "version"}

    def experiment(self, key: str) -> Experiment | None:
        """The experiment with ``key``, or ``None``."""
        return next((e for e in self.experiments if e.key == key), None)


#: Model class of each bundle section (from the kinds table).
SECTIONS: dict[str, type[msgspec.Struct]] = {k.section: k.model for k in KINDS}

_condition_checker: list[ConditionChecker] = []
#: "unknown metric 'x'" with no hint yet: the hint may name an object that failed to decode.
_UNKNOWN_REF = re.compile(r"^unknown [a-z]+ '([^']*)'$")


def register_condition_checker(checker: ConditionChecker) -> None:
    """Install the targeting grammar check used by :func:`validate_bundle` (idempotent)."""
    if checker not in _condition_checker:
        _condition_checker.append(checker)


def decode_object[T: msgspec.Struct](
    data: Any, kind: type[T], problems: ProblemList, *, path: str = ""
) -> T | None:
    """Decode one config object, appending its problems (with ``path`` prefixed).

    Returns ``None`` when the object is invalid; the problems say why.
    """
    try:
        return msgspec.convert(data, kind, strict=True)
    except msgspec.ValidationError:
        # Diagnose field by field: msgspec stops at the first problem, we want them all.
        problems.extend(struct_problems(data, kind, path=path))
    return None


def _decode_sections(
    data: Mapping[str, Any], path: str, problems: ProblemList
) -> tuple[dict[str, list[Any]], dict[str, list[int]], set[str]]:
    """Decode each section's objects.

    Returns:
        ``(objects by section, their index in the file, keys of unusable objects)``;
        invalid objects are salvaged (for cross-object checks only) where possible.
    """
    sections: dict[str, list[Any]] = {}
    origins: dict[str, list[int]] = {}
    failed: set[str] = set()
    for name, kind in SECTIONS.items():
        raw = data.get(name) or []
        if not isinstance(raw, list):
            problems.add(_join(path, name), f"must be a list, got {type(raw).__name__}")
            continue
        sections[name], origins[name] = [], []
        for i, item in enumerate(raw):
            obj = decode_object(item, kind, problems, path=f"{_join(path, name)}[{i}]")
            if obj is None:
                obj = salvage(item, kind)  # still check its references
            if obj is not None:
                sections[name].append(obj)
                origins[name].append(i)
            elif isinstance(item, Mapping) and isinstance(item.get("key"), str):
                failed.add(item["key"])
    return sections, origins, failed


def validate_bundle(bundle: ConfigBundle) -> list[Problem]:
    """Cross-object checks: unique keys and every reference resolved."""
    problems = ProblemList()
    for name in SECTIONS:
        check_unique(problems, name, (o.key for o in getattr(bundle, name)), name[:-1])
    segments = {x.key: x for x in bundle.segments}
    _check_experiments(problems, bundle, segments)
    for i, seg in enumerate(bundle.segments):
        _check_condition(problems, seg.condition, f"segments[{i}].condition", segments)
    _check_flags(problems, bundle, segments)
    _check_flag_graph(problems, bundle)
    _check_rollouts(problems, bundle)
    return problems


def _check_condition(
    problems: ProblemList, condition: Any, path: str, segments: Mapping[str, Segment]
) -> None:
    for checker in _condition_checker:
        problems.extend(checker(condition, path, segments))


def _check_experiments(
    problems: ProblemList, bundle: ConfigBundle, segments: Mapping[str, Segment]
) -> None:
    known = {
        "layer": {x.key for x in bundle.layers},
        "holdout": {x.key for x in bundle.holdouts},
        "flag": {x.key for x in bundle.flags},
        "metric": {x.key for x in bundle.metrics},
    }
    for i, exp in enumerate(bundle.experiments):
        base = f"experiments[{i}]"
        refs = [
            ("layer", "layer.layer", exp.layer.layer if exp.layer else None),
            ("holdout", "holdout", exp.holdout),
            ("flag", "flag_key", exp.flag_key),
        ]
        for group in ("primary", "secondary", "guardrails"):
            refs += [
                ("metric", f"metrics.{group}[{j}]", key)
                for j, key in enumerate(getattr(exp.metrics, group))
            ]
        for what, field, key in refs:
            if key is not None and key not in known[what]:
                hint = did_you_mean(key, known[what])
                problems.add(f"{base}.{field}", f"unknown {what} {key!r}{hint}")
        _check_condition(problems, exp.targeting, f"{base}.targeting", segments)


def _check_flags(
    problems: ProblemList, bundle: ConfigBundle, segments: Mapping[str, Segment]
) -> None:
    flags = {x.key: x for x in bundle.flags}
    experiments = {x.key for x in bundle.experiments}
    for i, flag in enumerate(bundle.flags):
        for j, rule in enumerate(flag.rules):
            if rule.experiment is not None and rule.experiment not in experiments:
                problems.add(
                    f"flags[{i}].rules[{j}].experiment",
                    f"unknown experiment {rule.experiment!r}"
                    + did_you_mean(rule.experiment, experiments),
                )
            _check_condition(
                problems, rule.condition, f"flags[{i}].rules[{j}].condition", segments
            )
        for j, pre in enumerate(flag.prerequisites):
            if pre.key not in flags:
                problems.add(
                    f"flags[{i}].prerequisites[{j}].key",
                    f"unknown flag {pre.key!r}{did_you_mean(pre.key, flags)}",
                )
            elif pre.variation not in flags[pre.key].variations:
                problems.add(
                    f"flags[{i}].prerequisites[{j}].variation",
                    f"flag {pre.key!r} has no variation {pre.variation!r}",
                )


def _check_rollouts(problems: ProblemList, bundle: ConfigBundle) -> None:
    flags = {x.key: x for x in bundle.flags}
    metrics = {x.key for x in bundle.metrics}
    for i, rollout in enumerate(bundle.rollouts):
        flag = flags.get(rollout.flag_key)
        if flag is None:
            problems.add(
                f"rollouts[{i}].flag_key",
                f"unknown flag {rollout.flag_key!r}{did_you_mean(rollout.flag_key, flags)}",
            )
        elif rollout.variation not in flag.variations:
            problems.add(
                f"rollouts[{i}].variation",
                f"flag {flag.key!r} has no variation {rollout.variation!r}",
            )
        for j, key in enumerate(rollout.guardrails):
            if key not in metrics:
                problems.add(
                    f"rollouts[{i}].guardrails[{j}]",
                    f"unknown metric {key!r}{did_you_mean(key, metrics)}",
                )


def _check_flag_graph(problems: ProblemList, bundle: ConfigBundle) -> None:
    """Prerequisite cycles, and experiment payloads that a delegating flag cannot serve."""
    cycles = prerequisite_cycles(bundle.flags)
    experiments = {x.key: x for x in bundle.experiments}
    for i, flag in enumerate(bundle.flags):
        if flag.key in cycles:
            j = next(
                j for j, p in enumerate(flag.prerequisites) if p.key == cycles[flag.key][1]
            )
            problems.add(
                f"flags[{i}].prerequisites[{j}].key",
                f"prerequisite cycle: {' → '.join(cycles[flag.key])}",
            )
        for j, rule in enumerate(flag.rules):
            exp = experiments.get(rule.experiment or "")
            if exp is None:
                continue
            for variant in exp.variants:
                value = (
                    variant.payload
                    if variant.payload is not None
                    else flag.variations.get(variant.key)
                )
                if not flag_value_matches(flag.type, value):
                    problems.add(
                        f"flags[{i}].rules[{j}].experiment",
                        f"variant {variant.key!r} of experiment {exp.key!r} serves {value!r}, "
                        f"not a {flag.type} value (set its payload, or name it after a "
                        f"variation of flag {flag.key!r})",
                    )


def _original_index(path: str, origins: Mapping[str, list[int]]) -> str:
    """Map ``section[i]`` (index among decoded objects) back to the index in the file."""
    section, bracket, rest = path.partition("[")
    index, close, tail = rest.partition("]")
    if not (bracket and close and index.isdigit() and section in origins):
        return path
    position = int(index)
    found = origins[section]
    original = found[position] if position < len(found) else position
    return f"{section}[{original}]{tail}"


def _join(base: str, field: str) -> str:
    field = field.lstrip(".")
    if not field:
        return base
    if not base:
        return field
    return f"{base}{field}" if field.startswith("[") else f"{base}.{field}"
