"""Can two audiences intersect? Static analysis of conditions, and measured overlap.

:func:`analyse_overlap` decides, without data, whether some attribute row could
satisfy two conditions at once. It is *sound*: it answers "disjoint" only when it
can prove no row satisfies both; anything it cannot reason about counts as "may
overlap". How it works:

1. Both conditions are rewritten into disjunctive normal form over literals
   (a clause or its negation), segments expanded, negations pushed down
   (bounded: past :data:`MAX_TERMS` terms the answer is "may overlap").
2. Two audiences are disjoint when every pair of terms contradicts. A pair
   contradicts when, for some attribute, no value satisfies all its literals.
3. Per attribute the value is split by type family (missing, string, number,
   bool, datetime, other) mirroring the compiler's fail-closed semantics; within a
   family, finite candidate sets (``eq``/``in``) are checked by evaluating the real
   compiled clauses, numbers / semantic versions / instants by interval reasoning.

:func:`estimate_overlap` complements it with data: the share of real attribute
rows (a polars frame) matching each condition and both.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from abwb.targeting.compiler import Test, compile_clause, make_compiler
from abwb.targeting.grammar import Family, describe, parse_instant, value_families
from abwb.targeting.semver import parse_semver

if TYPE_CHECKING:
    import polars as pl

    from abwb.config.segment import Segment

__all__ = ["MAX_TERMS", "OverlapEstimate", "OverlapVerdict", "analyse_overlap", "estimate_overlap"]

#: Largest disjunctive normal form analysed per condition (and pairs: its square / 16).
MAX_TERMS = 256
_MAX_PAIRS = 4096
_FAMILIES: tuple[Family, ...] = ("missing", "string", "number", "bool", "datetime", "other")
_FLIP = {"lt": "gte", "lte": "gt", "gt": "lte", "gte": "lt", "before": "not_before",
         "after": "not_after"}


@dataclass(frozen=True, slots=True)
class OverlapVerdict:
    """Whether two audiences can intersect, and why.

    Attributes:
        may_overlap: ``False`` only when it is proven that no unit matches both.
        explanation: The contradiction found, or why an intersection is possible.
    """

    may_overlap: bool
    explanation: str


@dataclass(frozen=True, slots=True)
class OverlapEstimate:
    """Measured overlap of two audiences on a sample of attribute rows.

    Attributes:
        n: Rows in the sample.
        matched_a: Rows matching the first condition.
        matched_b: Rows matching the second condition.
        matched_both: Rows matching both.
    """

    n: int
    matched_a: int
    matched_b: int
    matched_both: int

    @property
    def share_both(self) -> float:
        """Share of all rows matching both conditions (NaN for an empty sample)."""
        return self.matched_both / self.n if self.n else math.nan

    @property
    def share_of_smaller(self) -> float:
        """Share of the smaller audience that is also in the other (NaN if one is empty)."""
        smaller = min(self.matched_a, self.matched_b)
        return self.matched_both / smaller if smaller else math.nan


@dataclass(frozen=True, slots=True)
class _Lit:
    """A clause, possibly negated, with its compiled test."""

    attr: str
    op: str
    value: Any
    fold: bool
    negated: bool
    families: frozenset[Family]
    test: Test
    text: str

    def holds(self, value: Any) -> bool:
        """Whether the literal holds when the attribute has ``value`` (None: absent)."""
        return self.test({} if value is None else {self.attr: value}) != self.negated


class _TooComplex(Exception):
    """The normal form grew past the bound; the caller assumes overlap."""


Term = tuple[_Lit, ...]


def analyse_overlap(
    a: Any,
    b: Any,
    *,
    segments: Mapping[str, Segment] | Iterable[Segment] | None = None,
) -> OverlapVerdict:
    """Statically decide whether conditions ``a`` and ``b`` can both hold for one unit.

    Args:
        a: A valid condition (``None``: everyone).
        b: A valid condition (``None``: everyone).
        segments: Segments the conditions reference.

    Returns:
        The verdict; ``may_overlap=False`` is a proof, ``True`` may be conservative.

    Raises:
        InvalidInput: either condition is invalid.

    Examples:
        >>> analyse_overlap({"attr": "country", "op": "in", "value": ["US"]},
        ...                 {"attr": "country", "op": "in", "value": ["DE"]}).may_overlap
        False
        >>> analyse_overlap({"attr": "age", "op": "gte", "value": 30},
        ...                 {"attr": "age", "op": "lt", "value": 18}).explanation
        'no value of age satisfies age gte 30 and age lt 18'
    """
    by_key = _segments_by_key(segments)
    check = make_compiler(by_key).check  # raises InvalidInput with paths
    check(a)
    check(b)
    try:
        terms_a = _dnf(a, negated=False, segments=by_key)
        terms_b = _dnf(b, negated=False, segments=by_key)
    except _TooComplex:
        return OverlapVerdict(True, "conditions too complex to analyse statically "
                              f"(over {MAX_TERMS} alternatives); assuming they can intersect")
    if not terms_a or not terms_b:
        which = "first" if not terms_a else "second"
        return OverlapVerdict(False, f"the {which} condition can never match")
    if len(terms_a) * len(terms_b) > _MAX_PAIRS:
        return OverlapVerdict(True, "conditions too complex to analyse statically; "
                              "assuming they can intersect")
    first_conflict = ""
    for ta, tb in itertools.product(terms_a, terms_b):
        conflict = _term_conflict(ta + tb)
        if conflict is None:
            return OverlapVerdict(True, "audiences can intersect: a unit may satisfy "
                                  + _render(ta + tb))
        first_conflict = first_conflict or conflict
    if len(terms_a) * len(terms_b) > 1:
        first_conflict = "every combination of the two audiences contradicts, e.g. " + (
            first_conflict)
    return OverlapVerdict(False, first_conflict)


def estimate_overlap(
    a: Any,
    b: Any,
    sample: pl.DataFrame,
    *,
    segments: Mapping[str, Segment] | Iterable[Segment] | None = None,
) -> OverlapEstimate:
    """Count sample rows matching ``a``, ``b`` and both (columns are attributes).

    Columns named with dots (``app.version``) or struct columns (``app`` with a
    ``version`` field) both serve dotted attribute paths; nulls are missing values.

    Args:
        a: A valid condition (``None``: everyone).
        b: A valid condition (``None``: everyone).
        sample: One row per unit, attribute columns.
        segments: Segments the conditions reference.

    Returns:
        The counts; see :attr:`OverlapEstimate.share_both`.

    Raises:
        InvalidInput: either condition is invalid.

    Examples:
        >>> import polars as pl
        >>> est = estimate_overlap(
        ...     {"attr": "country", "op": "in", "value": ["US", "CA"]},
        ...     {"attr": "plan", "op": "eq", "value": "pro"},
        ...     pl.DataFrame({"country": ["US", "CA", "DE", "US"],
        ...                   "plan": ["pro", "free", "pro", None]}))
        >>> (est.matched_a, est.matched_b, est.matched_both, est.share_both)
        (3, 2, 1, 0.25)
    """
    compile_one = make_compiler(_segments_by_key(segments))
    pa, pb = compile_one(a), compile_one(b)
    n = ma = mb = both = 0
    for row in sample.iter_rows(named=True):
        n += 1
        hit_a, hit_b = pa(row)[0], pb(row)[0]
        ma += hit_a
        mb += hit_b
        both += hit_a and hit_b
    return OverlapEstimate(n=n, matched_a=ma, matched_b=mb, matched_both=both)


def _segments_by_key(
    segments: Mapping[str, Segment] | Iterable[Segment] | None,
) -> Mapping[str, Segment]:
    if segments is None:
        return {}
    if isinstance(segments, Mapping):
        return segments
    return {s.key: s for s in segments}


def _dnf(cond: Any, *, negated: bool, segments: Mapping[str, Segment]) -> list[Term]:
    """Disjunctive normal form of ``cond`` (or of its negation), contradictions pruned."""
    if cond is None:
        return [] if negated else [()]
    if "attr" in cond:
        return [(_literal(cond, negated),)]
    if "not" in cond:
        return _dnf(cond["not"], negated=not negated, segments=segments)
    if "segment" in cond:
        return _dnf(segments[cond["segment"]].condition, negated=negated, segments=segments)
    children = [_dnf(c, negated=negated, segments=segments) for c in cond.get("all") or
                cond.get("any")]
    conjunctive = ("all" in cond) != negated
    if not conjunctive:
        terms = [t for child in children for t in child]
        if len(terms) > MAX_TERMS:
            raise _TooComplex
        return terms
    terms = [()]
    for child in children:
        terms = [t + c for t in terms for c in child if _term_conflict(t + c) is None]
        if len(terms) > MAX_TERMS:
            raise _TooComplex
    return terms


def _literal(clause: Mapping[str, Any], negated: bool) -> _Lit:
    text = describe(clause)
    return _Lit(
        attr=clause["attr"],
        op=clause["op"],
        value=clause.get("value"),
        fold=bool(clause.get("ignore_case", False)),
        negated=negated,
        families=value_families(clause["op"], clause.get("value")),
        test=compile_clause(clause),
        text=f"not ({text})" if negated else text,
    )


def _render(term: Term) -> str:
    if not term:
        return "both (one audience is everyone)"
    text = " and ".join(lit.text for lit in term)
    return text if len(text) <= 240 else text[:237] + "..."


def _term_conflict(term: Term) -> str | None:
    """Why no attribute row satisfies every literal of ``term``, or ``None`` if one may."""
    by_attr: dict[str, list[_Lit]] = {}
    seen: dict[tuple[str, str, str, bool], bool] = {}
    for lit in term:
        by_attr.setdefault(lit.attr, []).append(lit)
        ident = (lit.attr, lit.op, repr(lit.value), lit.fold)
        if seen.setdefault(ident, lit.negated) != lit.negated:
            clause = lit.text.removeprefix("not (").removesuffix(")") if lit.negated else lit.text
            return f"{clause} cannot both hold and not hold"
    for attr, lits in by_attr.items():
        if not any(_family_satisfiable(f, lits) for f in _FAMILIES):
            return f"no value of {attr} satisfies " + " and ".join(lit.text for lit in lits)
    return None


def _family_satisfiable(family: Family, lits: list[_Lit]) -> bool:
    """Whether a value of ``family`` may satisfy every literal (``True`` when unsure)."""
    if family == "missing":
        return all(lit.holds(None) for lit in lits)
    if family == "bool":
        return any(all(lit.holds(c) for lit in lits) for c in (True, False))
    if any(lit.negated and lit.op == "exists" for lit in lits):
        return False  # "not exists" only holds for a missing value
    positive = [lit for lit in lits if not lit.negated]
    if any(family not in lit.families for lit in positive):
        return False  # a positive clause of another type fails closed on this family
    constraining = [lit for lit in positive if lit.op != "exists"]
    if not constraining:
        return True  # e.g. NaN, an odd string or an object satisfies any negations
    if family in ("string", "number"):
        candidates = _candidates(family, constraining)
        if candidates is not None:
            return any(all(lit.holds(c) for lit in lits) for c in candidates)
    live_negated = [lit for lit in lits if lit.negated and family in lit.families]
    if family == "number":
        return _interval_open(constraining, live_negated, {"lt", "lte", "gt", "gte"}, _number_key)
    ok = True
    if family == "string" and any(lit.op.startswith("semver_") for lit in constraining):
        ops = {"semver_lt", "semver_lte", "semver_gt", "semver_gte", "semver_eq"}
        ok = _interval_open(constraining, live_negated, ops, _semver_key)
    if ok and any(lit.op in ("before", "after") for lit in constraining):
        ok = _interval_open(constraining, live_negated, {"before", "after"}, parse_instant)
    return ok


def _candidates(family: Family, positive: list[_Lit]) -> list[Any] | None:
    """Finite values the attribute can take given case-sensitive ``eq``/``in`` clauses."""
    allowed: set[Any] | None = None
    for lit in positive:
        if lit.op not in ("eq", "in") or lit.fold:
            continue
        values = lit.value if isinstance(lit.value, list) else [lit.value]
        mine: set[Any]
        if family == "string":
            mine = {v for v in values if isinstance(v, str)}
        else:
            mine = {v for v in values if isinstance(v, int | float) and not isinstance(v, bool)}
        allowed = mine if allowed is None else allowed & mine
    return None if allowed is None else sorted(allowed, key=repr)


def _number_key(value: Any) -> Any:
    return value


def _semver_key(value: Any) -> Any:
    return parse_semver(value)


def _interval_open(positive: list[_Lit], negated: list[_Lit], ops: set[str], key: Any) -> bool:
    """Whether the bounds set by ``ops`` literals leave any room (``True`` when unsure).

    Negated literals flip (``not lt x`` is ``gte x``): valid because a positive literal
    of the same kind already forces the value to be comparable (fail-closed).
    """
    if not any(lit.op in ops for lit in positive):
        return True
    lo: Any = None
    hi: Any = None
    lo_strict = hi_strict = False
    for lit in [*positive, *negated]:
        if lit.op not in ops:
            continue
        op = lit.op.removeprefix("semver_")
        if lit.negated:
            if op == "eq":
                continue
            op = _FLIP[op]
        bound = key(lit.value)
        if op in ("eq", "gte", "gt", "after", "not_before"):
            strict = op in ("gt", "after")
            if lo is None or bound > lo or (bound == lo and strict):
                lo, lo_strict = bound, strict
        if op in ("eq", "lte", "lt", "before", "not_after"):
            strict = op in ("lt", "before")
            if hi is None or bound < hi or (bound == hi and strict):
                hi, hi_strict = bound, strict
    if lo is None or hi is None:
        return True
    return lo < hi or (lo == hi and not lo_strict and not hi_strict)
