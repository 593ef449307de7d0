"""Targeting conditions evaluated on the columns of a frame, one boolean per row.

What belongs here: the column form of :mod:`abwb.targeting` — the same language with
the same answers, for frames of units. It does not re-implement any operator: each
clause is the targeting engine's own compiled test
(:func:`abwb.targeting.compile_clause`), applied once per *distinct* value of its
attribute column and mapped back to the rows; ``all``/``any``/``not`` and segment
references become boolean column algebra. The cost is one pass per clause plus one
call per distinct value, so a country or app-version clause over ten million rows
costs a few dozen calls.

Rows see what the scalar engine sees in the dict of the row's attribute columns
(``frame.to_dicts()``): a column named exactly like the dotted path wins, otherwise
the path walks struct columns (``app`` with field ``version`` for ``app.version``);
absent and null are the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

from abwb.targeting.compiler import Test, compile_clause

if TYPE_CHECKING:
    from abwb.config.segment import Segment

__all__ = ["attribute_column", "condition_mask"]

#: Column types whose values are hashable scalars: a clause runs once per distinct value.
_DISTINCT = (
    pl.String, pl.Boolean, pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16,
    pl.UInt32, pl.UInt64, pl.Float32, pl.Float64, pl.Date,
)


def attribute_column(frame: pl.DataFrame, path: str) -> pl.Series | None:
    """The values a dotted attribute path resolves to, per row (``None``: absent everywhere).

    Args:
        frame: The attribute columns (no unit-id column).
        path: A dotted attribute path.

    Returns:
        The column, or ``None`` when no row can have the attribute.

    Examples:
        >>> frame = pl.DataFrame({"app": [{"version": "4.2.0"}, None]})
        >>> attribute_column(frame, "app.version").to_list()
        ['4.2.0', None]
        >>> attribute_column(frame, "country") is None
        True
    """
    if path in frame.columns:
        return frame[path]
    parts = path.split(".")
    if len(parts) == 1 or parts[0] not in frame.columns:
        return None
    column = frame[parts[0]]
    for part in parts[1:]:
        dtype = column.dtype
        if not isinstance(dtype, pl.Struct) or part not in [f.name for f in dtype.fields]:
            return None
        column = column.struct.field(part)
    return column


def condition_mask(
    condition: Any,
    frame: pl.DataFrame,
    *,
    segments: Mapping[str, Segment] | None = None,
) -> pl.Series:
    """Whether each row of ``frame`` matches a *valid* condition.

    Args:
        condition: A condition already validated by the targeting compiler
            (``None`` matches every row).
        frame: The attribute columns, one row per unit.
        segments: Segments that ``{"segment": key}`` references resolve to.

    Returns:
        A Boolean Series named ``targeted``, one value per row.

    Examples:
        >>> frame = pl.DataFrame({"country": ["US", "DE", None]})
        >>> condition_mask({"attr": "country", "op": "in", "value": ["US", "CA"]},
        ...                frame).to_list()
        [True, False, False]
    """
    if condition is None:
        return pl.repeat(True, frame.height, dtype=pl.Boolean, eager=True).alias("targeted")
    return _Columns(frame, segments or {}).node(condition).alias("targeted")


class _Columns:
    """One frame's evaluation of one condition tree (clause results are memoised)."""

    def __init__(self, frame: pl.DataFrame, segments: Mapping[str, Segment]) -> None:
        self.frame = frame
        self.segments = segments
        self.memo: dict[str, pl.Series] = {}

    def node(self, cond: Mapping[str, Any]) -> pl.Series:
        # Same dispatch order as abwb.targeting.compiler._Compiler.node.
        if "attr" in cond:
            return self.clause(cond)
        if "all" in cond:
            return self.fold([self.node(c) for c in cond["all"]], every=True)
        if "any" in cond:
            return self.fold([self.node(c) for c in cond["any"]], every=False)
        if "not" in cond:
            return ~self.node(cond["not"])
        key = cond["segment"]
        cached = self.memo.get(f"segment:{key}")
        if cached is None:
            cached = self.memo[f"segment:{key}"] = self.node(self.segments[key].condition)
        return cached

    def fold(self, masks: list[pl.Series], *, every: bool) -> pl.Series:
        if not masks:  # validation refuses empty lists; keep all([]) / any([]) anyway
            return pl.repeat(every, self.frame.height, dtype=pl.Boolean, eager=True)
        out = masks[0]
        for mask in masks[1:]:
            out = (out & mask) if every else (out | mask)
        return out

    def clause(self, cond: Mapping[str, Any]) -> pl.Series:
        path: str = cond["attr"]
        test = compile_clause(cond)
        values = attribute_column(self.frame, path)
        if values is None:
            return pl.repeat(test({}), self.frame.height, dtype=pl.Boolean, eager=True)
        return _apply(test, path, values)


def _apply(test: Test, path: str, values: pl.Series) -> pl.Series:
    """``test`` on every value of ``values``: once per distinct value when they are scalars."""
    if not isinstance(values.dtype, _DISTINCT):
        return pl.Series([test({path: v}) for v in values.to_list()], dtype=pl.Boolean)
    distinct = values.drop_nulls().unique()
    outcome = pl.Series([test({path: v}) for v in distinct.to_list()], dtype=pl.Boolean)
    hits = distinct.filter(outcome)
    if hits.len() == distinct.len():
        mask = values.is_not_null()
    elif hits.len() == 0:
        mask = pl.repeat(False, values.len(), dtype=pl.Boolean, eager=True)
    else:
        mask = values.is_in(hits.implode()).fill_null(False)
    # Absent and null are the same attribute value: one call decides every null row.
    if values.null_count():
        mask = mask | values.is_null() if test({path: None}) else mask & values.is_not_null()
    return mask
