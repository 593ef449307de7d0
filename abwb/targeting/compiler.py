"""Compiling conditions into fast predicates that explain their misses.

A condition is validated once (:func:`~abwb.targeting.grammar.condition_problems`)
and compiled into one generated Python function, every clause and combinator inlined
as one expression (:func:`_clause_source` is each operator's only definition). Beside
it sits an ``explain(attrs) -> str`` that is only called when the whole condition
fails, to say which clause failed and what value it saw
(``country in ['US', 'CA'] failed: got 'DE'``).

Why generated code: a tree of closures costs a Python call per clause and combinator,
and those calls were most of the time a condition took. One function per condition
evaluates the benchmark's three clauses about twice as fast, which matters when a
request meets hundreds of experiments with conditions of their own. The generated text
holds only names the compiler bound (see :class:`_Names`), never text from a condition.

Evaluation semantics (documented in docs/targeting.md):

* **Attribute lookup.** ``attr`` is a dotted path. A key equal to the whole path
  wins (flat rows: ``{"app.version": "4.2.0"}``); otherwise the path walks nested
  mappings (``{"app": {"version": "4.2.0"}}``). Absent and ``null`` are the same.
* **Fail closed.** A missing attribute, a value of the wrong type (``"10"`` against a
  number, ``True`` against ``1``), NaN, an unparseable version or date make *every*
  clause false, ``ne`` and ``not_in`` included; only ``not_exists`` is true for a
  missing attribute. Use ``{"not": clause}`` for "anything but".
"""

from __future__ import annotations

import json
import math
import numbers
import operator
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import re2

from abwb.errors import InvalidInput
from abwb.targeting.grammar import (
    compile_regex,
    condition_problems,
    describe,
    parse_instant,
)
from abwb.targeting.semver import parse_semver

if TYPE_CHECKING:
    from abwb.config.segment import Segment

__all__ = [
    "TargetingCompiler",
    "Test",
    "compile_clause",
    "compile_condition",
    "make_compiler",
    "resolve",
]

#: A compiled node: attributes → matched.
Test = Callable[[Mapping[str, Any]], bool]
Explain = Callable[[Mapping[str, Any]], str]
Predicate = Callable[[Mapping[str, Any]], tuple[bool, str]]

_ABSENT = object()  # lookup sentinel
_OTHER = object()  # key of a value that no literal can equal (lists, dicts, NaN, ...)
#: Non-builtin numbers accepted as numbers (numpy scalars register as numbers.Real;
#: Decimal comes from database drivers).
_REAL = (numbers.Real, Decimal)


def resolve(attrs: Mapping[str, Any], path: str) -> Any:
    """The value at dotted ``path`` (``None`` when absent); a literal key wins.

    Examples:
        >>> resolve({"app": {"version": "4.2.0"}}, "app.version")
        '4.2.0'
        >>> resolve({"app.version": "5.0.0", "app": {"version": "4.2.0"}}, "app.version")
        '5.0.0'
        >>> resolve({"app": "web"}, "app.version") is None
        True
    """
    return _getter(path)(attrs)


def _getter(path: str) -> Callable[[Mapping[str, Any]], Any]:
    parts = tuple(path.split("."))
    if len(parts) == 1:
        return lambda attrs: attrs.get(path)

    def get(attrs: Mapping[str, Any]) -> Any:
        value = attrs.get(path, _ABSENT)
        if value is not _ABSENT:
            return value
        node: Any = attrs
        for part in parts:
            if type(node) is not dict and not isinstance(node, Mapping):
                return None
            node = node.get(part)
            if node is None:
                return None
        return node

    return get


def _key(value: Any, fold: bool) -> Any:
    """Equality key: strings as themselves, numbers as numbers, booleans tagged.

    Tagging booleans keeps ``True`` from equalling ``1``; NaN and non-scalars map to
    ``_OTHER``, which no literal key equals.
    """
    t = type(value)
    if t is str:
        return value.casefold() if fold else value
    if t is int:
        return value
    if t is float:
        return value if value == value else _OTHER
    if t is bool:
        return ("bool", value)
    if isinstance(value, bool):
        return ("bool", bool(value))
    if isinstance(value, str):
        return str(value).casefold() if fold else str(value)
    if isinstance(value, _REAL):
        if math.isnan(value):
            return _OTHER
        # As a builtin number: a numpy scalar compared with a tuple key answers an array.
        if isinstance(value, numbers.Integral):
            return int(value)
        return value if isinstance(value, Decimal) else float(value)
    return _OTHER


def _number(value: Any) -> float | numbers.Real | Decimal | None:
    """A non-NaN real number (booleans are not numbers), else ``None``."""
    t = type(value)
    if t is int or t is float:  # the common cases, without isinstance
        plain: float = value
        return plain if plain == plain else None
    if isinstance(value, _REAL) and not isinstance(value, bool):
        return value if not math.isnan(value) else None
    return None


#: The Python operator of each comparison, for generated code.
_SYMBOL = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">=", "eq": "==", "before": "<",
           "after": ">"}
#: The same comparisons as functions, for the helpers of the uncommon cases.
_FUNCTION: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq,
}


def _compare(op: str) -> Callable[[Any, Any], bool]:
    return _FUNCTION[_SYMBOL[op]]


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    """Keep ``value`` in a compile cache, which is emptied when it reaches 4,096 entries."""
    if len(cache) >= 4096:
        cache.clear()
    cache[key] = value


class _Names:
    """The values a piece of generated code refers to, each under a fresh name.

    Generated code holds no text from the condition: every literal, path, set and helper
    is a name bound here, so a condition cannot inject code. One ``_Names`` serves every
    function generated for one condition, so its expressions combine without clashes.
    """

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def __call__(self, value: Any) -> str:
        name = f"_b{len(self.values)}"
        self.values[name] = value
        return name


def _function(head: str, body: str, names: _Names) -> Callable[..., Any]:
    """Compile ``def f(a): <body>`` with ``names`` as its globals."""
    namespace = dict(names.values)
    # The text holds generated names only (see _Names): no condition text is executed.
    exec(compile(f"def f(a):\n{body}\n", f"<targeting {head}>", "exec"), namespace)
    function: Callable[..., Any] = namespace["f"]
    return function


def _get_source(path: str, bind: _Names) -> str:
    """An expression for the value at ``path`` in ``a`` (see :func:`_getter`)."""
    if "." not in path:
        return f"a.get({bind(path)})"
    absent, walk = bind(_ABSENT), f"{bind(_getter(path))}(a)"
    parts = path.split(".")
    if len(parts) == 2:  # one level of nesting in plain dicts, the common case, inline
        walk = (f"(w.get({bind(parts[1])}) if type(w := a.get({bind(parts[0])})) is dict "
                f"else None if w is None else {walk})")
    return f"(v if (v := a.get({bind(path)}, {absent})) is not {absent} else {walk})"


def _clause_source(clause: Mapping[str, Any], bind: _Names) -> str:  # noqa: C901 - one branch per operator
    """A boolean expression over ``a`` for one *valid* clause: the operators' one definition.

    The expression uses the scratch names ``v``, ``w``, ``k`` and ``t``, each assigned before it
    is read, so clauses can be joined with ``and`` / ``or`` / ``not`` in one function.
    The common cases (a string, an ``int`` or ``float``) take an inline path; anything
    else calls a helper with the same semantics.
    """
    get = _get_source(clause["attr"], bind)
    op: str = clause["op"]
    value = clause.get("value")
    fold = bool(clause.get("ignore_case", False))
    if op in ("eq", "ne", "in", "not_in"):
        values = value if isinstance(value, list) else [value]
        keys = frozenset(_key(v, fold) for v in values)
        negate = op in ("ne", "not_in")
        if not fold and all(type(v) is str for v in values):
            # Strings, the common case; a str subclass compares as the plain string.
            slow = bind(_not_in_strings if negate else _in_strings)
            keys_name = bind(keys)
            if len(keys) == 1:
                (only,) = keys
                test = f"v {'!=' if negate else '=='} {bind(only)}"
            else:
                test = f"v {'not in' if negate else 'in'} {keys_name}"
            return f"({test} if type(v := {get}) is str else {slow}(v, {keys_name}))"
        key = bind(_key)
        if not negate:
            if len(keys) == 1:
                (only,) = keys
                return f"({key}({get}, {fold}) == {bind(only)})"
            return f"({key}({get}, {fold}) in {bind(keys)})"
        families = frozenset(_family(v) for v in values)
        return (f"({bind(_family)}(v := {get}) in {bind(families)} and "
                f"(k := {key}(v, {fold})) not in {bind(keys)} and k is not {bind(_OTHER)})")
    if op in ("lt", "lte", "gt", "gte"):
        bound = bind(value)
        slow = bind(_numeric(_compare(op), value))
        # A NaN compares false with anything, as the fail-closed rule wants.
        return (f"(v {_SYMBOL[op]} {bound} if (t := type(v := {get})) is int or t is float "
                f"else {slow}(v))")
    if op.startswith("semver_"):
        target = bind(parse_semver(value))
        symbol = _SYMBOL[op.removeprefix("semver_")]
        return (f"(type(v := {get}) is str and (k := {bind(parse_semver)}(v)) is not None "
                f"and k {symbol} {target})")
    if op in ("before", "after"):
        instant = bind(parse_instant(value))
        return f"((k := {bind(_instant)}({get})) is not None and k {_SYMBOL[op]} {instant})"
    if op in ("contains", "starts_with", "ends_with"):
        text = str(value)  # validated: these operators take a string
        needle = bind(text.casefold() if fold else text)
        subject = "v.casefold()" if fold else "v"
        test = {"contains": f"{needle} in {subject}",
                "starts_with": f"{subject}.startswith({needle})",
                "ends_with": f"{subject}.endswith({needle})"}[op]
        return f"(type(v := {get}) is str and {test})"
    if op == "regex":
        search = bind(_searcher(compile_regex(str(value), ignore_case=fold)))  # validated
        return f"(type(v := {get}) is str and {search}(v))"
    if op == "exists":
        return f"({get} is not None)"
    if op == "not_exists":
        return f"({get} is None)"
    raise InvalidInput(f"unknown operator {op!r}", path="op")  # unreachable after validation


def compile_clause(clause: Mapping[str, Any]) -> Test:
    """The boolean test of one *valid* clause (no explanation, no validation).

    Args:
        clause: ``{"attr": ..., "op": ..., "value": ..., "ignore_case": ...}``.

    Returns:
        attributes → whether the clause holds.

    Examples:
        >>> test = compile_clause({"attr": "app.version", "op": "semver_gte", "value": "4.2"})
        >>> test({"app": {"version": "4.10.0"}}), test({"app.version": "4.1.9"})
        (True, False)
    """
    try:
        key: Any = _clause_key(clause)
        test = _CLAUSES.get(key)
    except TypeError:  # not a valid clause's literal: compile it, uncached
        key, test = None, None
    if test is None:
        names = _Names()
        test = _function(clause["op"], f"    return {_clause_source(clause, names)}", names)
        if key is not None:
            _remember(_CLAUSES, key, test)
    return test


#: Compiled clause tests by clause: the overlap analysis and the column evaluator ask for
#: the same clauses again and again, and compiling one costs ~100 µs.
_CLAUSES: dict[Any, Test] = {}


def _clause_key(clause: Mapping[str, Any]) -> Any:
    """A hashable key that tells apart every two clauses that may answer differently.

    Each literal is keyed with its type, since ``1``, ``1.0`` and ``True`` are equal
    (and hash alike) in Python but not in the condition language.
    """
    value = clause.get("value")
    typed = (tuple((type(v), v) for v in value) if isinstance(value, list)
             else (type(value), value))
    return (clause["attr"], clause["op"], typed, bool(clause.get("ignore_case", False)))


def _in_strings(v: Any, keys: frozenset[Any]) -> bool:
    """``v in keys`` for a value that is not exactly a ``str`` (a subclass counts)."""
    return isinstance(v, str) and str(v) in keys


def _not_in_strings(v: Any, keys: frozenset[Any]) -> bool:
    """``v not in keys`` for a value that is not exactly a ``str`` (fails closed)."""
    return isinstance(v, str) and str(v) not in keys


def _numeric(cmp: Callable[[Any, Any], bool], bound: Any) -> Callable[[Any], bool]:
    """The comparison for a value that is not exactly an ``int`` or ``float``."""

    def test(v: Any) -> bool:
        n = _number(v)
        return n is not None and cmp(n, bound)

    return test


def _searcher(rx: Any) -> Callable[[str], bool]:
    """``text -> found`` for a compiled RE2 regexp.

    The public ``search`` builds a match object and decodes offsets (~4 µs); a
    boolean only needs the underlying ``RE2.Match`` call (~0.7 µs). The fallback keeps
    working should the wrapper's internals change.
    """
    raw = getattr(rx, "_regexp", None)
    anchor = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)
    null = getattr(re2, "_NULL_SPAN", None)
    if raw is None or anchor is None or null is None or not hasattr(raw, "Match"):
        return lambda text: rx.search(text) is not None

    def search(text: str) -> bool:
        data = text.encode("utf-8", "replace")
        return bool(raw.Match(anchor, data, 0, len(data))[0] != null)

    return search


def _instant(value: Any) -> datetime | None:
    if type(value) is str or isinstance(value, datetime):
        return parse_instant(value)
    return parse_instant(value) if hasattr(value, "year") else None


def _family(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, _REAL):
        return "number"
    return "other"


def _observed(value: Any, clause: Mapping[str, Any]) -> str:
    if value is None:
        return "attribute missing"
    try:
        shown = repr(value)
    except ValueError:  # ints beyond sys.get_int_max_str_digits()
        shown = f"<{type(value).__name__} too large to show>"
    if len(shown) > 80:
        shown = shown[:77] + "..."
    fam = _family(value)
    op = clause["op"]
    if op in ("lt", "lte", "gt", "gte") and _number(value) is None:
        return f"got {shown} ({fam}, expected a number)"
    if op.startswith("semver_") and (fam != "string" or parse_semver(value) is None):
        return f"got {shown} (not a semantic version)"
    if op in ("before", "after") and _instant(value) is None:
        return f"got {shown} (not a date or datetime)"
    wanted = {"contains", "starts_with", "ends_with", "regex"}
    if op in wanted and fam != "string":
        return f"got {shown} ({fam}, expected a string)"
    if op in ("eq", "ne", "in", "not_in"):
        values = clause["value"] if isinstance(clause["value"], list) else [clause["value"]]
        families = {_family(v) for v in values}
        if fam not in families:
            return f"got {shown} ({fam}, expected {' or '.join(sorted(families))})"
    return f"got {shown}"


class _Node:
    """One compiled node: its expression over ``a``, its explanation, its test on demand.

    A condition becomes one generated function with every clause inlined, so the engine
    makes one call per condition, not one per clause and combinator. A node's own test
    is compiled only when something needs it: an ``all``'s explanation (which child
    failed) or a segment reference.
    """

    __slots__ = ("_names", "_test", "every", "explain", "source")

    def __init__(self, source: str, explain: Explain, names: _Names,
                 every: tuple[_Node, ...] = ()) -> None:
        self.source = source
        self.explain = explain
        self._names = names
        self._test: Test | None = None
        #: The children of an ``all`` (empty for any other node).
        self.every = every

    @property
    def test(self) -> Test:
        if self._test is None:
            self._test = _function("node", f"    return {self.source}", self._names)
        return self._test


class _Compiler:
    """Compiles one condition tree; segment bodies are compiled once and shared."""

    def __init__(self, segments: Mapping[str, Segment], cache: dict[str, _Node]) -> None:
        self.segments = segments
        self.cache = cache
        self.bind = _Names()

    def node(self, cond: Mapping[str, Any]) -> _Node:
        if "attr" in cond:
            return self.clause(cond)
        if "all" in cond:
            return self.all_of([self.node(c) for c in cond["all"]])
        if "any" in cond:
            return self.any_of([self.node(c) for c in cond["any"]], describe(cond))
        if "not" in cond:
            inner = self.node(cond["not"])
            text = describe(cond["not"])
            return _Node(f"(not {inner.source})",
                         lambda a: f"not ({text}) failed: it matched", self.bind)
        return self.segment(cond["segment"])

    def clause(self, cond: Mapping[str, Any]) -> _Node:
        get = _getter(cond["attr"])
        text = describe(cond)
        return _Node(_clause_source(cond, self.bind),
                     lambda a: f"{text} failed: {_observed(get(a), cond)}", self.bind)

    def all_of(self, children: list[_Node]) -> _Node:
        if len(children) == 1:
            return children[0]

        def explain(a: Mapping[str, Any]) -> str:
            return next((c.explain(a) for c in children if not c.test(a)), "")

        source = " and ".join(c.source for c in children) or "True"
        return _Node(f"({source})", explain, self.bind, tuple(children))

    def any_of(self, children: list[_Node], text: str) -> _Node:
        if len(children) == 1:
            return children[0]

        def explain(a: Mapping[str, Any]) -> str:
            shown = "; ".join(c.explain(a) for c in children[:3])
            more = f"; ... (+{len(children) - 3})" if len(children) > 3 else ""
            return f"none of {len(children)} alternatives matched: {shown}{more}"

        source = " or ".join(c.source for c in children) or "False"
        return _Node(f"({source})", explain, self.bind)

    def segment(self, key: str) -> _Node:
        """A call to the segment's own function, compiled once for every condition."""
        body = self.cache.get(key)
        if body is None:
            body = self.cache[key] = self.node(self.segments[key].condition)
        inner = body.explain

        def explain(a: Mapping[str, Any]) -> str:
            return f"segment {key!r} did not match: {inner(a)}"

        return _Node(f"{self.bind(body.test)}(a)", explain, self.bind)

    def predicate(self, node: _Node) -> Predicate:
        """The condition's predicate: one generated function, explaining only on a miss.

        A top-level ``all`` tests its children in turn and explains the first that
        fails right there, without evaluating the condition a second time.
        """
        hit = self.bind((True, ""))
        if node.every:
            body = "\n".join(f"    if not {c.source}:\n        return False, "
                             f"{self.bind(c.explain)}(a)" for c in node.every)
            body += f"\n    return {hit}"
        else:
            body = (f"    if {node.source}:\n        return {hit}\n"
                    f"    return False, {self.bind(node.explain)}(a)")
        predicate: Predicate = _function("condition", body, self.bind)
        return predicate


def compile_condition(
    condition: Any,
    *,
    segments: Mapping[str, Segment] | Iterable[Segment] | None = None,
    path: str = "targeting",
) -> Predicate:
    """Validate and compile a condition into ``attributes -> (matched, explanation)``.

    Args:
        condition: The condition (parsed JSON); ``None`` matches everyone.
        segments: Segments that ``{"segment": key}`` may reference (a mapping by key
            or an iterable of :class:`~abwb.config.Segment`).
        path: Path prefixed to validation problems.

    Returns:
        The predicate: ``(True, "")`` on a match, else ``(False, why)``.

    Raises:
        InvalidInput: every problem with the condition, each with its path.

    Examples:
        >>> match = compile_condition({"all": [
        ...     {"attr": "country", "op": "in", "value": ["US", "CA"]},
        ...     {"attr": "app.version", "op": "semver_gte", "value": "4.2.0"}]})
        >>> match({"country": "US", "app": {"version": "4.10.1"}})
        (True, '')
        >>> match({"country": "DE", "app": {"version": "4.10.1"}})
        (False, "country in ['US', 'CA'] failed: got 'DE'")
    """
    return make_compiler(segments, path=path)(condition)


class TargetingCompiler:
    """The engine's ``ConditionCompiler``: ``condition -> predicate``, bound to segments.

    Segment conditions are validated and compiled once, then shared by every
    condition this compiler builds. The bound :attr:`segments` are public so that
    another evaluator of the same language (the column-wise one in :mod:`abwb.bulk`)
    can tell that a predicate came from this engine and resolve the same segments.

    Args:
        segments: Segments available to ``{"segment": key}`` references.
        path: Path prefixed to validation problems.
    """

    def __init__(
        self,
        segments: Mapping[str, Segment] | Iterable[Segment] | None = None,
        *,
        path: str = "targeting",
    ) -> None:
        if segments is None:
            self.segments: Mapping[str, Segment] = {}
        elif isinstance(segments, Mapping):
            self.segments = segments
        else:
            self.segments = {s.key: s for s in segments}
        self.path = path
        self._cache: dict[str, _Node] = {}
        self._checked: set[str] = set()
        #: Getters of the dotted paths read by the conditions compiled so far.
        self._dotted: dict[str, Callable[[Mapping[str, Any]], Any]] = {}

    def __call__(self, condition: Any) -> Predicate:
        """Validate and compile ``condition``.

        Raises:
            InvalidInput: every problem with the condition, each with its path.
        """
        if condition is None:
            return _match_all
        self.check(condition)
        by_key = self.segments
        key = _condition_key(condition, by_key)
        predicate = _PREDICATES.get(key) if key is not None else None
        if predicate is None:
            compiler = _Compiler(by_key, self._cache)
            predicate = compiler.predicate(compiler.node(condition))
            if key is not None:
                _remember(_PREDICATES, key, predicate)
        for attr in _attribute_paths(condition, by_key):
            if "." in attr and attr not in self._dotted:
                self._dotted[attr] = _getter(attr)
        return predicate

    def check(self, condition: Any) -> None:
        """Validate ``condition`` and the segments it references, without compiling it.

        Raises:
            InvalidInput: every problem with the condition, each with its path.
        """
        if condition is None:
            return
        by_key = self.segments
        problems = condition_problems(condition, self.path, by_key)
        for key in _referenced(condition, by_key) - self._checked:
            found = condition_problems(
                by_key[key].condition, f"segments[{key!r}].condition", by_key
            )
            problems += found
            if not found:
                self._checked.add(key)
        if problems:
            raise InvalidInput(problems)


    def resolved(self, attrs: Mapping[str, Any]) -> Mapping[str, Any]:
        """``attrs`` with each dotted path this compiler's conditions read looked up once.

        The result holds the original keys plus one flat key per dotted path
        (``"app.version"``) with the value that path resolves to. A literal key wins over
        nested lookup, so every predicate of this compiler answers (and explains) exactly
        as it would on ``attrs``, without walking nested mappings again: a request whose
        experiments have many different conditions on ``app.version`` walks ``app`` once.

        Args:
            attrs: A unit's attributes.

        Returns:
            ``attrs`` itself when no condition reads a dotted path, else a new dict.

        Examples:
            >>> compiler = TargetingCompiler()
            >>> _ = compiler({"attr": "app.version", "op": "semver_gte", "value": "4.2.0"})
            >>> compiler.resolved({"app": {"version": "4.3.1"}})
            {'app': {'version': '4.3.1'}, 'app.version': '4.3.1'}
        """
        if not self._dotted:
            return attrs
        flat = dict(attrs)
        for attr, get in self._dotted.items():
            flat[attr] = get(attrs)
        return flat


#: Compiled predicates by condition and the segments it references. Every config version
#: compiles its conditions again, in every worker; most are unchanged, and compiling one
#: costs ~150 µs (the generated code), so a version with 200 conditions of their own
#: took ~45 ms to compile without this cache and ~10 ms with it.
_PREDICATES: dict[str, Predicate] = {}


def _condition_key(condition: Any, segments: Mapping[str, Segment]) -> str | None:
    """The JSON text of a *valid* condition and of every segment it reaches, or ``None``.

    JSON tells ``1``, ``1.0`` and ``true`` apart, as the condition language does.
    ``None`` when a value has no JSON form (the caller compiles without the cache).
    """
    reached = sorted(_referenced(condition, segments))
    try:
        return json.dumps([condition, [[k, segments[k].condition] for k in reached]],
                          sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None


def make_compiler(
    segments: Mapping[str, Segment] | Iterable[Segment] | None = None,
    *,
    path: str = "targeting",
) -> TargetingCompiler:
    """A one-argument compiler (the engine's ``ConditionCompiler``) bound to segments.

    Args:
        segments: Segments available to ``{"segment": key}`` references.
        path: Path prefixed to validation problems.

    Returns:
        ``condition -> predicate``; raises :class:`InvalidInput` on a bad condition.
    """
    return TargetingCompiler(segments, path=path)


def _match_all(_: Mapping[str, Any]) -> tuple[bool, str]:
    return True, ""


def _attribute_paths(condition: Any, segments: Mapping[str, Segment]) -> set[str]:
    """Every attribute path a *valid* condition reads, through its segments too."""
    found: set[str] = set()
    stack = [condition, *(segments[key].condition for key in _referenced(condition, segments))]
    while stack:
        cond = stack.pop()
        if "attr" in cond:
            found.add(cond["attr"])
        for name in ("all", "any"):
            stack.extend(cond.get(name, ()))
        if "not" in cond:
            stack.append(cond["not"])
    return found


def _referenced(condition: Any, segments: Mapping[str, Segment]) -> set[str]:
    """Every segment key reachable from ``condition`` (assumes no cycles: validated)."""
    found: set[str] = set()
    stack = [condition]
    while stack:
        cond = stack.pop()
        if not isinstance(cond, Mapping):
            continue
        ref = cond.get("segment")
        if isinstance(ref, str):
            if ref in segments and ref not in found:
                found.add(ref)
                stack.append(segments[ref].condition)
            continue
        for name in ("all", "any"):
            if isinstance(cond.get(name), list):
                stack.extend(cond[name])
        if "not" in cond:
            stack.append(cond["not"])
    return found
