"""Vectorised assignment of a whole frame of units, identical to the scalar engine.

Hashes are computed by DuckDB over the polars frame (zero-copy through Arrow) with
the same SQL as :mod:`abwb.assignment.sql`; gates that depend on the experiment but
not the unit (status, schedule, kill) apply to the whole frame; targeting runs the
compiled predicate per row only when the experiment has a condition. Experiments the
runtime guard arbitrates (a shared flag or surface) go row by row through the scalar
engine. Sticky assignments are not consulted: bulk answers are the deterministic ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, cast

import duckdb
import polars as pl

from abwb.assignment.decision import Reason
from abwb.assignment.engine import Assigner, CompiledExperiment
from abwb.assignment.hashing import BUCKETS
from abwb.assignment.sql import DUCKDB_BUCKET_MACRO
from abwb.errors import InvalidInput

if TYPE_CHECKING:
    from polars.expr.whenthen import ChainedThen, Then

__all__ = ["assign_frame", "bucket_frame"]


def bucket_frame(unit_ids: pl.Series, salts: Sequence[str]) -> pl.DataFrame:
    """Buckets of every unit id under every salt, computed in DuckDB.

    Args:
        unit_ids: A string Series of unit ids.
        salts: Salts to hash under; the result has one Int32 column per salt,
            named ``b0``, ``b1``, ... in order.

    Returns:
        A frame with ``unit_id`` and one bucket column per salt, in input order.
    """
    con = duckdb.connect()
    try:
        con.execute(DUCKDB_BUCKET_MACRO)
        units = pl.DataFrame({"unit_id": unit_ids.cast(pl.String)})
        con.register("units", units)
        cols = ", ".join(f"abwb_bucket(${i + 1}, unit_id) AS b{i}" for i in range(len(salts)))
        sql = f"SELECT unit_id{', ' + cols if cols else ''} FROM units"
        # duckdb types ``.pl()`` as Any (it may return a LazyFrame when lazy=True)
        return cast(pl.DataFrame, con.sql(sql, params=list(salts)).pl())
    finally:
        con.close()


def _check_frame(frame: pl.DataFrame, unit_col: str) -> None:
    if unit_col not in frame.columns:
        raise InvalidInput(f"missing unit id column {unit_col!r}", path=unit_col)
    if frame.schema[unit_col] != pl.String:
        raise InvalidInput(f"must be a String column, got {frame.schema[unit_col]}", path=unit_col)
    bad = frame.filter(
        pl.col(unit_col).is_null()
        | (pl.col(unit_col).str.strip_chars() == "")
        | (pl.col(unit_col).str.len_bytes() > 512)
    )
    if bad.height:
        raise InvalidInput(
            f"{bad.height} unit ids are null, empty or longer than 512 bytes", path=unit_col
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
        InvalidInput: missing/invalid unit-id column or unknown experiment.
    """
    _check_frame(frame, unit_col)
    ce = assigner.compiled(experiment)
    constant = _frame_wide_reason(ce, unit_type, now)
    if constant is not None:
        return frame.with_columns(
            pl.lit(None, dtype=pl.String).alias("variant"), pl.lit(constant.value).alias("reason")
        )
    if assigner.contested(experiment):
        return _assign_rows(assigner, frame, experiment, now=now, unit_col=unit_col,
                            unit_type=unit_type)
    exp = ce.experiment
    # Hash only what can change the answer: traffic at 100 % and absent layers or
    # holdouts need no hash (each SHA-256 column costs ~0.2 µs per unit).
    wanted = {"variant": ce.variant_salt}
    if ce.traffic_limit < BUCKETS:
        wanted["traffic"] = ce.traffic_salt
    if ce.holdout_salt is not None:
        wanted["holdout"] = ce.holdout_salt
    if ce.layer_salt is not None:
        wanted["layer"] = ce.layer_salt
    hashed = bucket_frame(frame[unit_col], list(wanted.values()))
    b = hashed.rename({f"b{i}": name for i, name in enumerate(wanted)})
    starts = pl.Series(ce.allocation.starts, dtype=pl.Int32)
    idx = starts.search_sorted(b["variant"], side="right") - 1
    variants = pl.Series(ce.allocation.variants, dtype=pl.String).gather(idx)
    if exp.targeting is None:
        targeted = pl.repeat(True, frame.height, eager=True).alias("targeted")
    else:
        attrs = frame.drop(unit_col).to_dicts() if frame.width > 1 else [{}] * frame.height
        targeted = pl.Series("targeted", [ce.predicate(a)[0] for a in attrs], dtype=pl.Boolean)
    work = b.with_columns(hashed=variants, targeted=targeted)
    if exp.overrides:
        overrides = pl.DataFrame(
            {"unit_id": list(exp.overrides), "forced": list(exp.overrides.values())},
            schema={"unit_id": pl.String, "forced": pl.String},
        )
        work = work.join(overrides, on="unit_id", how="left", maintain_order="left")
    else:
        work = work.with_columns(forced=pl.lit(None, dtype=pl.String))
    reason: Then | ChainedThen = pl.when(pl.col("forced").is_not_null()).then(
        pl.lit(Reason.OVERRIDE.value)
    )
    if "holdout" in wanted:
        reason = reason.when(pl.col("holdout") < ce.holdout_limit).then(
            pl.lit(Reason.HOLDOUT.value)
        )
    reason = reason.when(~pl.col("targeted")).then(pl.lit(Reason.TARGETING_MISS.value))
    if "layer" in wanted:
        in_layer = pl.any_horizontal(
            [(pl.col("layer") >= s) & (pl.col("layer") < e) for s, e in ce.layer_ranges]
        )
        reason = reason.when(~in_layer).then(pl.lit(Reason.LAYER_EXCLUDED.value))
    if "traffic" in wanted:
        reason = reason.when(pl.col("traffic") >= ce.traffic_limit).then(
            pl.lit(Reason.NOT_IN_TRAFFIC.value)
        )
    reason_expr = reason.otherwise(pl.lit(Reason.ASSIGNED.value))
    result = work.select(reason_expr.alias("reason"), pl.col("forced"), pl.col("hashed")).select(
        pl.when(pl.col("reason") == Reason.OVERRIDE.value)
        .then(pl.col("forced"))
        .when(pl.col("reason") == Reason.ASSIGNED.value)
        .then(pl.col("hashed"))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias("variant"),
        pl.col("reason"),
    )
    return frame.with_columns(result["variant"], result["reason"])


def _assign_rows(
    assigner: Assigner,
    frame: pl.DataFrame,
    experiment: str,
    *,
    now: datetime,
    unit_col: str,
    unit_type: str,
) -> pl.DataFrame:
    """Row by row through the scalar engine.

    Used for experiments the runtime guard arbitrates: whether a rival holds a unit
    depends on the rival's own decision, so the scalar engine answers.
    """
    attrs = frame.drop(unit_col).to_dicts() if frame.width > 1 else [{}] * frame.height
    decisions = [
        assigner.decide(experiment, unit, now=now, attributes=a, unit_type=unit_type)
        for unit, a in zip(frame[unit_col].to_list(), attrs, strict=True)
    ]
    return frame.with_columns(
        pl.Series("variant", [d.variant for d in decisions], dtype=pl.String),
        pl.Series("reason", [d.reason.value for d in decisions], dtype=pl.String),
    )


def _frame_wide_reason(ce: CompiledExperiment, unit_type: str, now: datetime) -> Reason | None:
    exp = ce.experiment
    if now.tzinfo is None:
        raise InvalidInput("must be timezone-aware", path="now")
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
