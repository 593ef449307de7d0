"""The condition language: operators, literal rules, bounds, and path-precise validation.

What belongs here is everything that defines *what a valid condition is* and how one
reads to a human: the operator table, the size bounds, literal parsing (semver,
dates, RE2 patterns) and :func:`condition_problems`, the checker the config bundle
runs. Evaluation lives in :mod:`abwb.targeting.compiler`, static reasoning in
:mod:`abwb.targeting.overlap`. The grammar itself is documented in docs/targeting.md.

A condition is JSON::

    condition := clause | {"all": [condition, ...]} | {"any": [condition, ...]}
               | {"not": condition} | {"segment": "<segment key>"}
    clause    := {"attr": "<dotted.path>", "op": "<operator>", "value": <literal>,
                  "ignore_case": <bool, optional>}
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

import re2

from abwb.errors import Problem
from abwb.targeting.semver import parse_semver

if TYPE_CHECKING:
    from abwb.config.segment import Segment

__all__ = [
    "COMBINATORS",
    "MAX_ATTR_CHARS",
    "MAX_DEPTH",
    "MAX_LIST_VALUES",
    "MAX_NODES",
    "MAX_REGEX_CHARS",
    "MAX_SEGMENT_NESTING",
    "MAX_STRING_CHARS",
    "OPERATORS",
    "Family",
    "OperatorSpec",
    "compile_regex",
    "condition_problems",
    "describe",
    "parse_instant",
    "value_families",
]

#: Deepest nesting of all/any/not inside one condition.
MAX_DEPTH = 12
#: Most clauses + combinators in one condition (segments count separately).
MAX_NODES = 256
#: Most values in one ``in`` / ``not_in`` list.
MAX_LIST_VALUES = 10_000
#: Longest string literal (characters).
MAX_STRING_CHARS = 4_096
#: Longest attribute path (characters).
MAX_ATTR_CHARS = 128
#: Longest regex pattern (characters).
MAX_REGEX_CHARS = 512
#: Most compiled RE2 program instructions (``a{1000}`` style blow-ups stay out).
MAX_REGEX_PROGRAM = 5_000
#: Memory budget handed to RE2 for one pattern.
REGEX_MAX_MEM = 1 << 20
#: Deepest chain of segments referencing segments.
MAX_SEGMENT_NESTING = 8

#: The type families an attribute value can fall into ("missing" = absent or null).
Family = Literal["missing", "string", "number", "bool", "datetime", "other"]
PRESENT: frozenset[Family] = frozenset({"string", "number", "bool", "datetime", "other"})

COMBINATORS = ("all", "any", "not", "segment")
_CLAUSE_KEYS = frozenset({"attr", "op", "value", "ignore_case"})

ValueKind = Literal["scalar", "list", "number", "semver", "instant", "string", "regex", "none"]


@dataclass(frozen=True, slots=True)
class OperatorSpec:
    """One operator: what its literal must be and which value families it can match.

    Attributes:
        value_kind: The literal it takes (``none`` for exists / not_exists).
        families: Families an attribute must be in for a (positive) clause to match;
            empty means "the families of the literal values" (eq, ne, in, not_in).
        ignore_case: Whether ``"ignore_case": true`` is allowed.
    """

    value_kind: ValueKind
    families: frozenset[Family] = frozenset()
    ignore_case: bool = False


_S: frozenset[Family] = frozenset({"string"})
_N: frozenset[Family] = frozenset({"number"})

#: Every operator of the language.
OPERATORS: dict[str, OperatorSpec] = {
    "eq": OperatorSpec("scalar", ignore_case=True),
    "ne": OperatorSpec("scalar", ignore_case=True),
    "in": OperatorSpec("list", ignore_case=True),
    "not_in": OperatorSpec("list", ignore_case=True),
    "lt": OperatorSpec("number", _N),
    "lte": OperatorSpec("number", _N),
    "gt": OperatorSpec("number", _N),
    "gte": OperatorSpec("number", _N),
    "semver_eq": OperatorSpec("semver", _S),
    "semver_lt": OperatorSpec("semver", _S),
    "semver_lte": OperatorSpec("semver", _S),
    "semver_gt": OperatorSpec("semver", _S),
    "semver_gte": OperatorSpec("semver", _S),
    "before": OperatorSpec("instant", frozenset({"string", "datetime"})),
    "after": OperatorSpec("instant", frozenset({"string", "datetime"})),
    "contains": OperatorSpec("string", _S, ignore_case=True),
    "starts_with": OperatorSpec("string", _S, ignore_case=True),
    "ends_with": OperatorSpec("string", _S, ignore_case=True),
    "regex": OperatorSpec("regex", _S, ignore_case=True),
    "exists": OperatorSpec("none", PRESENT),
    "not_exists": OperatorSpec("none", frozenset({"missing"})),
}


def scalar_family(value: Any) -> Family | None:
    """Family of a literal scalar (``None`` if it is not a valid literal scalar)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "number"  # Python ints are exact at any size
    if isinstance(value, float):
        return "number" if math.isfinite(value) else None
    if isinstance(value, str):
        return "string"
    return None


def value_families(op: str, value: Any) -> frozenset[Family]:
    """Families an attribute must fall into for a positive clause ``op value`` to match.

    Examples:
        >>> sorted(value_families("in", ["US", 3]))
        ['number', 'string']
        >>> sorted(value_families("semver_gte", "4.2.0"))
        ['string']
    """
    spec = OPERATORS[op]
    if spec.families:
        return spec.families
    values = value if isinstance(value, list) else [value]
    return frozenset(f for v in values if (f := scalar_family(v)) is not None)


def parse_instant(value: Any) -> datetime | None:
    """An aware UTC datetime from an attribute or literal value, or ``None``.

    Accepts ``datetime`` (naive ones are taken as UTC), ``date`` (midnight UTC) and
    ISO-8601 strings (``2026-01-01``, ``2026-01-01T09:30:00Z``). Numbers are not
    accepted: epoch seconds and milliseconds cannot be told apart safely.

    Examples:
        >>> parse_instant("2026-01-01")
        datetime.datetime(2026, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
        >>> parse_instant(1767225600) is None
        True
    """
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        return _parse_instant_text(value)
    return None


@lru_cache(maxsize=8192)
def _parse_instant_text(text: str) -> datetime | None:
    if not 8 <= len(text) <= 40:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def compile_regex(pattern: str, *, ignore_case: bool = False) -> re2._Regexp:
    """Compile ``pattern`` with RE2 under the memory and program-size bounds.

    Args:
        pattern: The RE2 pattern (searched, not anchored, unless it anchors itself).
        ignore_case: Case-insensitive matching.

    Returns:
        The compiled RE2 regexp.

    Raises:
        ValueError: the pattern is too large, nests quantifiers, or RE2 rejects it;
            the message says which.
    """
    if len(pattern) > MAX_REGEX_CHARS:
        raise ValueError(f"pattern must be at most {MAX_REGEX_CHARS} characters, "
                         f"got {len(pattern)}")
    nested = _nested_quantifier(pattern)
    if nested:
        raise ValueError(
            f"nested quantifier {nested!r} is rejected: it backtracks catastrophically in "
            "engines other than RE2 (other SDKs evaluate the same rules); rewrite it without "
            "a repeated group that itself repeats"
        )
    options = re2.Options()
    options.max_mem = REGEX_MAX_MEM
    options.log_errors = False
    options.case_sensitive = not ignore_case
    options.never_capture = True  # only "does it match" is asked
    try:
        compiled = re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid pattern"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(f"RE2 cannot compile the pattern: {reason}") from None
    if compiled.programsize > MAX_REGEX_PROGRAM:
        raise ValueError(
            f"pattern compiles to {compiled.programsize} RE2 instructions; "
            f"at most {MAX_REGEX_PROGRAM} are allowed"
        )
    return compiled


def _nested_quantifier(pattern: str) -> str:  # noqa: C901 - a small hand-written scanner
    r"""The first ``(a+)+``-style construct, else ``""``.

    Flags a repeated group (``+``, ``*``, ``{n,}``, ``{n,m}`` with m > 1) one of whose
    alternatives both starts and ends with a quantified atom (``(a+)+$``,
    ``(\w+\s?)*``, ``(a|b+)*``): the shape behind catastrophic backtracking, since
    consecutive repetitions can split the same text many ways. ``(\.[a-z]+)*`` and
    ``(\w+\.)+`` pass: a literal at one end makes each repetition unambiguous.
    """
    # frame: [start, atoms in current alternative, an alternative began quantified,
    #         current alternative began quantified, an alternative ended quantified]
    frames: list[list[Any]] = [[0, 0, False, False, False]]
    i, n = 0, len(pattern)
    prev_quantified = False
    closed: tuple[int, bool] | None = None  # (group start, group is ambiguous)
    while i < n:
        ch = pattern[i]
        frame = frames[-1]
        if ch in "*+?{" and (ch != "{" or _brace_end(pattern, i) > 0):
            repeats = ch in "*+" or (ch == "{" and _brace_repeats(pattern, i))
            if closed is not None and closed[1] and repeats:
                end = _brace_end(pattern, i) if ch == "{" else i
                return pattern[closed[0] : end + 1]
            if frame[1] == 1:
                frame[3] = True
            i = _brace_end(pattern, i) + 1 if ch == "{" else i + 1
            prev_quantified, closed = True, None
            continue
        if ch == "|":
            frame[2] = frame[2] or (frame[3] and prev_quantified)
            frame[1], frame[3] = 0, False
            prev_quantified, closed = False, None
            i += 1
            continue
        if ch == ")" and len(frames) > 1:
            frames.pop()
            ambiguous = frame[2] or (frame[3] and prev_quantified)
            parent = frames[-1]
            parent[1] += 1
            if ambiguous and parent[1] == 1:
                parent[3] = True  # an ambiguous group counts as a quantified atom
            closed, prev_quantified = (frame[0], ambiguous), ambiguous
            i += 1
            continue
        if ch == "(":
            frames.append([i, 0, False, False, False])
            if pattern.startswith("(?P<", i):  # skip a group name / flags prefix
                i = max(pattern.find(">", i), i)
            elif pattern.startswith("(?", i):
                colon, paren = pattern.find(":", i), pattern.find(")", i)
                i = colon if 0 <= colon < paren or (colon >= 0 > paren) else i + 1
        else:
            if ch == "[":
                i = _class_end(pattern, i)
            elif ch == "\\":
                i += 1
            frame[1] += 1
        prev_quantified, closed = False, None
        i += 1
    return ""


def _class_end(pattern: str, i: int) -> int:
    """Index of the ``]`` closing the character class opened at ``i``."""
    j = i + 1
    if j < len(pattern) and pattern[j] == "^":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    while j < len(pattern) and pattern[j] != "]":
        j += 2 if pattern[j] == "\\" else 1
    return j


def _brace_end(pattern: str, i: int) -> int:
    """Index of the ``}`` of a ``{n}``, ``{n,}``, ``{n,m}`` repeat at ``i``, else -1."""
    close = pattern.find("}", i)
    if close < 0:
        return -1
    low, _, high = pattern[i + 1 : close].partition(",")
    return close if low.isdigit() and (not high or high.isdigit()) else -1


def _brace_repeats(pattern: str, i: int) -> bool:
    """Whether the ``{...}`` at ``i`` can repeat more than once."""
    low, comma, high = pattern[i + 1 : _brace_end(pattern, i)].partition(",")
    return bool(comma and not high) or int(high or low) > 1


def describe(condition: Any, *, limit: int = 5) -> str:
    """A condition as one readable line (for explanations, conflict reports, logs).

    Args:
        condition: A (valid) condition.
        limit: Most list values shown before eliding.

    Examples:
        >>> describe({"all": [{"attr": "country", "op": "in", "value": ["US", "CA"]},
        ...                   {"not": {"segment": "internal-staff"}}]})
        "country in ['US', 'CA'] and not (segment 'internal-staff')"
    """
    if not isinstance(condition, Mapping):
        return repr(condition)
    if "attr" in condition:
        attr, op = condition.get("attr"), condition.get("op")
        if OPERATORS.get(str(op), OPERATORS["eq"]).value_kind == "none":
            text = f"{attr} {op}"
        else:
            value = condition.get("value")
            if isinstance(value, list) and len(value) > limit:
                shown = ", ".join(repr(v) for v in value[:limit])
                text = f"{attr} {op} [{shown}, ... (+{len(value) - limit})]"
            else:
                text = f"{attr} {op} {value!r}"
        return text + (" (ignore case)" if condition.get("ignore_case") else "")
    if "segment" in condition:
        return f"segment {condition['segment']!r}"
    if "not" in condition:
        return f"not ({describe(condition['not'], limit=limit)})"
    for name, joiner in (("all", " and "), ("any", " or ")):
        if name in condition and isinstance(condition[name], list):
            parts = [describe(c, limit=limit) for c in condition[name]]
            wrapped = [f"({p})" if " and " in p or " or " in p else p for p in parts]
            return joiner.join(wrapped) if len(wrapped) > 1 else (wrapped[0] if wrapped else "")
    return repr(dict(condition))


def condition_problems(
    condition: Any,
    path: str = "",
    segments: Mapping[str, Segment] | None = None,
) -> list[Problem]:
    """Every problem with a condition, each with a path (``targeting.all[1].op``).

    Checks the grammar, operator names, literal types and formats (semver, dates,
    RE2 patterns), size bounds, segment references (unknown, cyclic, too deep).
    ``None`` means "no condition" (everyone) and has no problems.

    Args:
        condition: The condition (parsed JSON).
        path: Path of the condition in its document, prefixed to every problem.
        segments: Known segments by key; ``None`` means no segment is known.

    Returns:
        The problems (empty when the condition is valid).

    Examples:
        >>> [str(p) for p in condition_problems(
        ...     {"all": [{"attr": "country", "op": "eq", "value": "US"},
        ...              {"attr": "app.version", "op": "semver_gt3", "value": "4.2.0"}]},
        ...     "targeting")]
        ["targeting.all[1].op: unknown operator 'semver_gt3'; did you mean 'semver_gt'?"]
    """
    if condition is None:
        return []
    checker = _Checker(segments or {})
    checker.node(condition, path, depth=0)
    return checker.problems


class _Checker:
    """Walks one condition collecting problems; follows segment references once."""

    def __init__(self, segments: Mapping[str, Segment]) -> None:
        self.segments = segments
        self.problems: list[Problem] = []
        self.nodes = 0

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def node(self, cond: Any, path: str, *, depth: int) -> None:
        self.nodes += 1
        if self.nodes == MAX_NODES + 1:
            self.add(path, f"condition has more than {MAX_NODES} clauses and combinators")
        if self.nodes > MAX_NODES:
            return
        if depth > MAX_DEPTH:
            self.add(path, f"conditions nest deeper than {MAX_DEPTH} levels")
            return
        if not isinstance(cond, Mapping):
            self.add(path, f"must be a condition object, got {_type_name(cond)} {cond!r:.60}")
            return
        kinds = [k for k in ("attr", *COMBINATORS) if k in cond]
        if len(kinds) != 1:
            self.add(
                path,
                "must hold exactly one of 'attr' (a clause), 'all', 'any', 'not', 'segment'; "
                f"got keys {sorted(map(str, cond))}",
            )
            return
        kind = kinds[0]
        if kind == "attr":
            self.clause(cond, path)
            return
        extra = sorted(str(k) for k in cond if k != kind)
        if extra:
            self.add(path, f"unexpected keys {extra} next to {kind!r}")
        body = cond[kind]
        if kind in ("all", "any"):
            if not isinstance(body, list) or not body:
                self.add(_join(path, kind), "must be a non-empty list of conditions, "
                         f"got {body!r:.60}")
                return
            for i, child in enumerate(body):
                self.node(child, f"{_join(path, kind)}[{i}]", depth=depth + 1)
        elif kind == "not":
            self.node(body, _join(path, "not"), depth=depth + 1)
        else:
            self.segment_ref(body, _join(path, "segment"))

    def segment_ref(self, key: Any, path: str) -> None:
        if not isinstance(key, str) or not key:
            self.add(path, f"must be a segment key (string), got {key!r:.60}")
            return
        if key not in self.segments:
            known = sorted(self.segments)
            self.add(path, f"unknown segment {key!r}" + (f"; known: {known[:10]}" if known
                                                          else " (no segments defined)"))
            return
        trouble = _segment_trouble(key, self.segments, (key,))
        if trouble:
            self.add(path, trouble)

    def clause(self, cond: Mapping[str, Any], path: str) -> None:
        extra = sorted(str(k) for k in cond if k not in _CLAUSE_KEYS)
        if extra:
            self.add(path, f"unexpected keys {extra}; a clause has attr, op, value, ignore_case")
        attr = cond["attr"]
        if not isinstance(attr, str) or not attr:
            self.add(_join(path, "attr"), f"must be a non-empty string, got {attr!r:.60}")
        elif len(attr) > MAX_ATTR_CHARS:
            self.add(_join(path, "attr"), f"must be at most {MAX_ATTR_CHARS} characters, "
                     f"got {len(attr)}")
        elif any(not part for part in attr.split(".")):
            self.add(_join(path, "attr"), f"has an empty path component: {attr!r}")
        op = cond.get("op")
        if not isinstance(op, str) or (spec := OPERATORS.get(op)) is None:
            self.add(_join(path, "op"), _unknown_operator(op))
            return
        ignore_case = cond.get("ignore_case", False)
        if not isinstance(ignore_case, bool):
            self.add(_join(path, "ignore_case"), f"must be true or false, got {ignore_case!r:.60}")
        elif ignore_case and not spec.ignore_case:
            self.add(_join(path, "ignore_case"), f"is not supported by operator {op!r}")
        if spec.value_kind == "none":
            if "value" in cond:
                self.add(_join(path, "value"), f"operator {op!r} takes no value")
            return
        if "value" not in cond:
            self.add(_join(path, "value"), f"operator {op!r} needs a value")
            return
        self.literal(spec.value_kind, op, cond["value"], _join(path, "value"),
                     ignore_case=ignore_case is True)

    def literal(self, kind: ValueKind, op: str, value: Any, path: str, *,
                ignore_case: bool) -> None:
        if kind == "scalar":
            self.scalar(op, value, path)
        elif kind == "list":
            if not isinstance(value, list) or not value:
                self.add(path, f"operator {op!r} needs a non-empty list, got {value!r:.60}")
            elif len(value) > MAX_LIST_VALUES:
                self.add(path, f"must hold at most {MAX_LIST_VALUES} values, got {len(value)}")
            else:
                for i, v in enumerate(value):
                    self.scalar(op, v, f"{path}[{i}]")
        elif kind == "number":
            if scalar_family(value) != "number":
                self.add(path, f"operator {op!r} needs a finite number, got "
                         f"{_type_name(value)} {value!r:.60}")
        else:
            self.text_literal(kind, op, value, path, ignore_case=ignore_case)

    def text_literal(self, kind: ValueKind, op: str, value: Any, path: str, *,
                     ignore_case: bool) -> None:
        if not isinstance(value, str):
            self.add(path, f"operator {op!r} needs a string, got {_type_name(value)} "
                     f"{value!r:.60}")
        elif len(value) > MAX_STRING_CHARS:
            self.add(path, f"must be at most {MAX_STRING_CHARS} characters, got {len(value)}")
        elif kind == "semver" and parse_semver(value) is None:
            self.add(path, f"is not a semantic version (e.g. '4.2.0', '4.2.0-rc.1'): {value!r}")
        elif kind == "instant":
            self.instant(value, path)
        elif kind == "regex":
            try:
                compile_regex(value, ignore_case=ignore_case)
            except ValueError as exc:
                self.add(path, str(exc))

    def scalar(self, op: str, value: Any, path: str) -> None:
        if value is None:
            self.add(path, f"operator {op!r} cannot compare with null; use exists / not_exists")
        elif scalar_family(value) is None:
            self.add(path, f"operator {op!r} needs a string, finite number or boolean, got "
                     f"{_type_name(value)} {value!r:.60}")
        elif isinstance(value, str) and len(value) > MAX_STRING_CHARS:
            self.add(path, f"must be at most {MAX_STRING_CHARS} characters, got {len(value)}")

    def instant(self, value: str, path: str) -> None:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            self.add(path, f"is not an ISO-8601 date or datetime (e.g. '2026-01-31' or "
                     f"'2026-01-31T09:00:00Z'): {value!r:.60}")
            return
        if ("T" in value.upper() or " " in value) and parsed.tzinfo is None:
            self.add(path, f"a datetime must carry a timezone (e.g. "
                     f"'2026-01-31T09:00:00Z'), got {value!r}")


def _segment_trouble(key: str, segments: Mapping[str, Segment], chain: tuple[str, ...]) -> str:
    """A cycle or over-deep nesting reachable from segment ``key`` (``""`` if none)."""
    if len(chain) > MAX_SEGMENT_NESTING:
        return f"segment references nest deeper than {MAX_SEGMENT_NESTING}: " + " -> ".join(chain)
    for ref in _segment_refs(segments[key].condition, 0):
        if ref in chain:
            return "segment reference cycle: " + " -> ".join((*chain, ref))
        if ref in segments:
            trouble = _segment_trouble(ref, segments, (*chain, ref))
            if trouble:
                return trouble
    return ""


def _segment_refs(cond: Any, depth: int) -> list[str]:
    """Segment keys referenced directly by ``cond`` (bounded walk, tolerant of bad input)."""
    if depth > MAX_DEPTH or not isinstance(cond, Mapping):
        return []
    ref = cond.get("segment")
    if isinstance(ref, str):
        return [ref]
    refs: list[str] = []
    for name in ("all", "any"):
        body = cond.get(name)
        if isinstance(body, list):
            for child in body[:MAX_NODES]:
                refs.extend(_segment_refs(child, depth + 1))
    if "not" in cond:
        refs.extend(_segment_refs(cond["not"], depth + 1))
    return refs


def _unknown_operator(op: Any) -> str:
    if not isinstance(op, str):
        return f"must be an operator name (string), got {op!r:.60}"
    message = f"unknown operator {op!r}"
    close = difflib.get_close_matches(op, list(OPERATORS), n=1)
    return message + (f"; did you mean {close[0]!r}?" if close
                      else f"; expected one of {sorted(OPERATORS)}")


def _type_name(value: Any) -> str:
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "list",
            dict: "object", type(None): "null"}.get(type(value), type(value).__name__)


def _join(base: str, field: str) -> str:
    return f"{base}.{field}" if base else field
