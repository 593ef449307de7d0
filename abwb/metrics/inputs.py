"""Pipeline inputs: exposure and event sources, checked against the frame contract.

What belongs here: accepting the places exposures and events come from — polars
frames (eager or lazy), Arrow tables, Parquet files or globs, an ``EventStore`` —
checking them against :data:`abwb.events.EXPOSURE_SCHEMA` / ``EVENT_SCHEMA``
(missing columns, wrong dtypes, timezone-naive timestamps each give an
``InvalidInput`` naming the column), and normalising timestamps to UTC
microseconds. Nothing here computes a metric.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from abwb.errors import InvalidInput, Problem
from abwb.events.frames import EVENT_SCHEMA, EXPOSURE_SCHEMA

if TYPE_CHECKING:
    from abwb.metrics.plan import MetricPlan

__all__ = [
    "EVENT_COLUMNS",
    "EXPOSURE_COLUMNS",
    "FrameSource",
    "PreparedSource",
    "prepare_events",
    "prepare_exposures",
    "read_store_frames",
]

#: Anything a pipeline reads rows from.
FrameSource = pl.DataFrame | pl.LazyFrame | str | Path | Sequence[str | Path] | Any

#: Exposure columns the pipeline reads (a subset of the contract schema).
EXPOSURE_COLUMNS = ("experiment", "variant", "phase", "unit_type", "unit_id", "exposed_at")
#: Event columns always read; metric value columns are added per request.
EVENT_COLUMNS = ("unit_type", "unit_id", "name", "occurred_at")

_UTC_US = pl.Datetime("us", "UTC")


@dataclass(frozen=True, slots=True)
class PreparedSource:
    """A validated source: a normalised lazy frame, plus the Parquet files it scans.

    Args:
        name: ``exposures`` or ``events`` (used in error paths).
        lazy: Lazy frame with exactly the needed columns in contract dtypes (UTC µs).
        parquet: Files to read directly when the source was Parquet (DuckDB reads
            them without going through polars), else ``None``.
        columns: The needed columns, in order.
    """

    name: str
    lazy: pl.LazyFrame
    parquet: tuple[str, ...] | None
    columns: tuple[str, ...]


def _parquet_files(source: str | Path | Sequence[str | Path], name: str) -> tuple[str, ...]:
    items = [source] if isinstance(source, (str, Path)) else list(source)
    files: list[str] = []
    for item in items:
        text = str(item)
        matched = sorted(glob.glob(text)) if any(c in text for c in "*?[") else [text]
        if not matched or not all(Path(f).is_file() for f in matched):
            raise InvalidInput(f"no Parquet file matches {text!r}", path=name)
        files.extend(matched)
    return tuple(files)


def _to_lazy(source: FrameSource, name: str) -> tuple[pl.LazyFrame, tuple[str, ...] | None]:
    if isinstance(source, pl.LazyFrame):
        return source, None
    if isinstance(source, pl.DataFrame):
        return source.lazy(), None
    if isinstance(source, (str, Path)) or (
        isinstance(source, Sequence) and source and all(isinstance(s, (str, Path)) for s in source)
    ):
        files = _parquet_files(source, name)
        return pl.scan_parquet(list(files)), files
    if hasattr(source, "__arrow_c_stream__") or type(source).__module__.startswith("pyarrow"):
        frame = pl.from_arrow(source)
        if isinstance(frame, pl.DataFrame):
            return frame.lazy(), None
    raise InvalidInput(
        "expected a polars DataFrame/LazyFrame, an Arrow table, or Parquet path(s), "
        f"got {type(source).__name__}",
        path=name,
    )


def _check_column(
    problems: list[Problem], name: str, column: str, actual: pl.DataType, expected: pl.DataType
) -> pl.Expr | None:
    path = f"{name}.{column}"
    if isinstance(expected, pl.Datetime):
        if not isinstance(actual, pl.Datetime):
            problems.append(Problem(path, f"expected a Datetime column, got {actual}"))
            return None
        if actual.time_zone is None:
            problems.append(Problem(path, "timestamps are timezone-naive; expected "
                                          "timezone-aware (e.g. Datetime('us', 'UTC'))"))
            return None
        # Any tz-aware instant is fine: converting to UTC keeps the instant.
        return pl.col(column).dt.convert_time_zone("UTC").cast(_UTC_US)
    if expected == pl.String:
        if actual not in (pl.String, pl.Categorical, pl.Enum) and not isinstance(
            actual, (pl.Categorical, pl.Enum)
        ):
            problems.append(Problem(path, f"expected String, got {actual}"))
            return None
        return pl.col(column).cast(pl.String)
    if expected.is_numeric():
        if not actual.is_numeric() and actual != pl.Null:
            problems.append(Problem(path, f"expected a numeric column ({expected}), got {actual}"))
            return None
        return pl.col(column).cast(expected)
    return pl.col(column)  # pragma: no cover - every contract dtype is handled above


def _prepare(
    source: FrameSource, name: str, wanted: dict[str, pl.DataType]
) -> PreparedSource:
    lazy, files = _to_lazy(source, name)
    try:
        schema = lazy.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InvalidInput(f"cannot read the source: {exc}", path=name) from exc
    problems: list[Problem] = []
    exprs: list[pl.Expr] = []
    for column, expected in wanted.items():
        if column not in schema:
            problems.append(Problem(f"{name}.{column}",
                                    f"missing column; {name} have columns {list(schema)}"))
            continue
        expr = _check_column(problems, name, column, schema[column], expected)
        if expr is not None:
            exprs.append(expr.alias(column))
    if problems:
        raise InvalidInput(problems)
    return PreparedSource(name, lazy.select(exprs), files, tuple(wanted))


def prepare_exposures(source: FrameSource) -> PreparedSource:
    """Validate an exposures source and normalise it to the contract dtypes.

    Args:
        source: Frame, Arrow table or Parquet path(s) with the exposure columns.

    Returns:
        The prepared source.

    Raises:
        InvalidInput: a missing column, a wrong dtype or timezone-naive timestamps,
            with the path ``exposures.<column>``.

    Examples:
        >>> import polars as pl
        >>> prepare_exposures(pl.DataFrame({"unit_id": ["u1"]}))
        Traceback (most recent call last):
        ...
        abwb.errors.InvalidInput: exposures.experiment: missing column; ...
    """
    return _prepare(source, "exposures", {c: EXPOSURE_SCHEMA[c] for c in EXPOSURE_COLUMNS})


def prepare_events(source: FrameSource, plans: Sequence[MetricPlan]) -> PreparedSource:
    """Validate an events source for the given metrics and normalise it.

    Args:
        source: Frame, Arrow table or Parquet path(s) with the event columns.
        plans: The metrics to compute; their value columns must exist and be numeric.

    Returns:
        The prepared source (only the columns the metrics need).

    Raises:
        InvalidInput: a missing column, a wrong dtype or timezone-naive timestamps,
            with the path ``events.<column>``.
    """
    wanted: dict[str, pl.DataType] = {c: EVENT_SCHEMA[c] for c in EVENT_COLUMNS}
    for plan in plans:
        for _, part in plan.parts():
            if part.value_column is not None:
                wanted[part.value_column] = pl.Float64()
    return _prepare(source, "events", wanted)


def read_store_frames(
    store: Any,
    *,
    experiment: str,
    plans: Sequence[MetricPlan],
    until: datetime | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read an experiment's exposures and the metrics' events from an ``EventStore``.

    Args:
        store: Any :class:`abwb.store.protocol.EventStore`.
        experiment: Experiment key.
        plans: The metrics (their event names are read, nothing else).
        until: Read nothing at or after this instant (the analysis ``as_of``).

    Returns:
        ``(exposures, events)`` frames in the contract schema.
    """
    names = sorted({part.event for plan in plans for _, part in plan.parts()})
    exposures = store.read_exposures(experiment=experiment, until=until)
    events = store.read_events(names=names, until=until)
    return exposures, events
