"""Vectorised assignment of a whole frame of units, identical to the scalar engine.

What belongs here: :func:`assign_frame`, the column form of
:meth:`abwb.assignment.Assigner.decide`. It reads the same compiled experiment
(salts, limits, allocation, layer ranges) and follows the same order::

    unit type → status / kill → schedule        (the same for every row)
    override → holdout → targeting → layer → traffic → variant    (per row, on columns)

Hashes are :func:`abwb.bulk.hashing.bucket_expr` (SHA-256 over the column, hash
version 1); targeting is :func:`abwb.bulk.targeting.condition_mask` (the targeting
engine's own clause tests, once per distinct value). Experiments the runtime guard
arbitrates (a shared flag or surface) take the rivals' own frame answers: a row that a
higher-precedence rival holds becomes ``surface_taken``. Sticky assignments are not
consulted: bulk answers are the deterministic ones. Only when the assigner was built
with a custom condition compiler (not :class:`abwb.targeting.TargetingCompiler`) does
targeting run the compiled predicate row by row.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl

from abwb.assignment.decision import Reason
from abwb.assignment.engine import Assigner, CompiledExperiment
from abwb.assignment.hashing import BUCKETS, MAX_UNIT_ID_BYTES
from abwb.bulk.hashing import bucket_expr
from abwb.bulk.targeting import condition_mask
from abwb.errors import InvalidInput
from abwb.targeting.compiler import TargetingCompiler

if TYPE_CHECKING:
    from polars.expr.whenthen import ChainedThen, Then

__all__ = ["assign_frame"]

_UNIT = "__abwb_unit"
_TARGETED = "__abwb_targeted"
_SLICE_ROWS = 500_000


def _check_frame(frame: pl.DataFrame, unit_col: str) -> None:
    if unit_col not in frame.columns:
        raise InvalidInput(f"missing unit id column {unit_col!r}", path=unit_col)
    if frame.schema[unit_col] != pl.String:
        raise InvalidInput(f"must be a String column, got {frame.schema[unit_col]}", path=unit_col)
    bad = frame.filter(
        pl.col(unit_col).is_null()
        | (pl.col(unit_col).str.strip_chars() == "")
        | (pl.col(unit_col).str.len_bytes() > MAX_UNIT_ID_BYTES)
    )
    if bad.height:
        raise InvalidInput(
            f"{bad.height} unit ids are null, empty or longer than {MAX_UNIT_ID_BYTES} bytes",
            path=unit_col,
        )


def assign_frame(
    assigner: Assigner,
    frame: pl.DataFrame,
    experiment: str,
    *,
    now: datetime,
    unit_col: str = "unit_id",
    unit_type: str = "user",
) -> pl.DataFrame:
    """Assign every row of ``frame`` to ``experiment``; same answers as the scalar path.

    Args:
        assigner: Compiled config.
        frame: One row per unit; ``unit_col`` holds ids, other columns are attributes
            (used only when the experiment has targeting).
        experiment: Experiment key.
        now: Current time (timezone-aware).
        unit_col: Name of the unit-id column.
        unit_type: Type of the ids.

    Returns:
        ``frame`` with ``variant`` (String, null when outside) and ``reason`` columns.

    Raises:
        InvalidInput: missing/invalid unit-id column, naive ``now`` or unknown experiment.

    Examples:
        >>> from datetime import UTC, datetime
        >>> from abwb.config import ConfigBundle, Experiment, Variant
        >>> exp = Experiment(key="checkout", status="running", variants=[
        ...     Variant(key="control", weight=0.5, is_control=True),
        ...     Variant(key="treatment", weight=0.5)])
        >>> assigner = Assigner(ConfigBundle(experiments=[exp]))
        >>> out = assign_frame(assigner, pl.DataFrame({"unit_id": ["user-1"]}), "checkout",
        ...                    now=datetime(2026, 1, 1, tzinfo=UTC))
        >>> out.row(0)
        ('user-1', 'treatment', 'assigned')
    """
    if now.tzinfo is None:
        raise InvalidInput("must be timezone-aware", path="now")
    _check_frame(frame, unit_col)
    assigner.compiled(experiment)  # unknown experiment: InvalidInput before any work
    answers = _Frame(assigner, frame, unit_col=unit_col, unit_type=unit_type, now=now)
    reason, variant = answers.guarded(experiment)
    return frame.with_columns(variant.alias("variant"), reason.alias("reason"))


class _Frame:
    """One frame's answers, memoised per experiment (rivals are asked once)."""

    def __init__(
        self,
        assigner: Assigner,
        frame: pl.DataFrame,
        *,
        unit_col: str,
        unit_type: str,
        now: datetime,
    ) -> None:
        self.assigner = assigner
        self.frame = frame
        self.unit_col = unit_col
        self.unit_type = unit_type
        self.now = now
        self.units = frame.select(pl.col(unit_col).alias(_UNIT))
        self.attributes = frame.drop(unit_col)
        self.memo: dict[str, tuple[pl.Series, pl.Series]] = {}

    def guarded(self, key: str) -> tuple[pl.Series, pl.Series]:
        """(reason, variant) of ``key``, after the runtime guard (see ``Assigner._guarded``)."""
        done = self.memo.get(key)
        if done is not None:
            return done
        reason, variant = self.decide(self.assigner.compiled(key))
        rivals = self.assigner.rivals(key)
        if rivals:
            mine = reason.is_in(_IN_EXPERIMENT)
            held = pl.repeat(False, self.frame.height, dtype=pl.Boolean, eager=True)
            for rival in rivals:
                held = held | self.guarded(rival)[0].is_in(_IN_EXPERIMENT)
            taken = mine & held
            if taken.any():
                reason = _where(taken, pl.lit(Reason.SURFACE_TAKEN.value), reason)
                variant = _where(taken, pl.lit(None, dtype=pl.String), variant)
        self.memo[key] = (reason, variant)
        return reason, variant

    def decide(self, ce: CompiledExperiment) -> tuple[pl.Series, pl.Series]:
        """(reason, variant) of one experiment, before the runtime guard."""
        height = self.frame.height
        constant = _frame_wide_reason(ce, self.unit_type, self.now)
        if constant is not None:
            return (
                pl.repeat(constant.value, height, dtype=pl.String, eager=True),
                pl.repeat(None, height, dtype=pl.String, eager=True),
            )
        exp = ce.experiment
        unit = pl.col(_UNIT)
        reason: Then | ChainedThen | None = None

        def gate(condition: pl.Expr, why: Reason) -> None:
            nonlocal reason
            out = pl.lit(why.value)
            reason = pl.when(condition).then(out) if reason is None else (
                reason.when(condition).then(out)
            )

        forced = (
            unit.replace_strict(exp.overrides, default=None, return_dtype=pl.String)
            if exp.overrides
            else pl.lit(None, dtype=pl.String)
        )
        gate(forced.is_not_null(), Reason.OVERRIDE)
        if ce.holdout_salt is not None:
            gate(bucket_expr(ce.holdout_salt, unit) < ce.holdout_limit, Reason.HOLDOUT)
        work = self.units
        if exp.targeting is not None:
            work = work.with_columns(self.targeted(ce).alias(_TARGETED))
            gate(~pl.col(_TARGETED), Reason.TARGETING_MISS)
        if ce.layer_salt is not None:
            layer = bucket_expr(ce.layer_salt, unit)
            inside = pl.any_horizontal([(layer >= s) & (layer < e) for s, e in ce.layer_ranges])
            gate(~inside, Reason.LAYER_EXCLUDED)
        if ce.traffic_limit < BUCKETS:
            gate(bucket_expr(ce.traffic_salt, unit) >= ce.traffic_limit, Reason.NOT_IN_TRAFFIC)
        assigned = pl.lit(Reason.ASSIGNED.value)
        reason_expr = assigned if reason is None else reason.otherwise(assigned)
        # Two steps, so that each hash runs once: the reason, then the variant it implies.
        first = [reason_expr.alias("reason"), forced.alias("forced"),
                 self.variant(ce).alias("hashed")]
        then = [
            pl.col("reason"),
            pl.when(pl.col("reason") == Reason.OVERRIDE.value)
            .then(pl.col("forced"))
            .when(pl.col("reason") == Reason.ASSIGNED.value)
            .then(pl.col("hashed"))
            .otherwise(pl.lit(None, dtype=pl.String))
            .alias("variant"),
        ]
        # Slices keep the SHA-256 hex columns in cache-sized pieces (~20 % less CPU
        # than one pass over ten million rows); the answer does not depend on them.
        pieces = work.iter_slices(_SLICE_ROWS) if work.height > _SLICE_ROWS else [work]
        out = pl.concat([piece.select(first).select(then) for piece in pieces])
        return out["reason"], out["variant"]

    def variant(self, ce: CompiledExperiment) -> pl.Expr:
        """The allocation's variant for the variant bucket (ranges tile ``[0, 10000)``)."""
        b = bucket_expr(ce.variant_salt, pl.col(_UNIT))
        alloc = ce.allocation
        chain: Then | ChainedThen | None = None
        for end, name in zip(alloc.ends[:-1], alloc.variants[:-1], strict=True):
            chain = (pl.when(b < end) if chain is None else chain.when(b < end)).then(
                pl.lit(name)
            )
        last = pl.lit(alloc.variants[-1], dtype=pl.String)
        return last if chain is None else chain.otherwise(last)

    def targeted(self, ce: CompiledExperiment) -> pl.Series:
        """Whether each row matches the experiment's targeting (same answers as its predicate)."""
        compiler = self.assigner.compile_condition
        if isinstance(compiler, TargetingCompiler):
            return condition_mask(ce.experiment.targeting, self.attributes,
                                  segments=compiler.segments)
        rows = self.attributes.to_dicts() if self.attributes.width else [{}] * self.frame.height
        return pl.Series("targeted", [ce.predicate(a)[0] for a in rows], dtype=pl.Boolean)


_IN_EXPERIMENT = [r.value for r in Reason if r.in_experiment]


def _where(mask: pl.Series, value: pl.Expr, otherwise: pl.Series) -> pl.Series:
    frame = pl.DataFrame({"m": mask, "o": otherwise})
    return frame.select(pl.when(pl.col("m")).then(value).otherwise(pl.col("o")).alias("x"))["x"]


def _frame_wide_reason(ce: CompiledExperiment, unit_type: str, now: datetime) -> Reason | None:
    exp = ce.experiment
    if exp.unit_type != unit_type:
        return Reason.UNIT_TYPE_MISMATCH
    if exp.status != "running":
        return Reason.PAUSED if exp.status == "paused" else Reason.NOT_RUNNING
    if ce.killed:
        return Reason.KILLED
    start, end = exp.schedule.start_at, exp.schedule.end_at
    if (start is not None and now < start) or (end is not None and now >= end):
        return Reason.OUTSIDE_SCHEDULE
    return None
