"""Bad input gives an InvalidInput naming the column, metric or option — never a traceback."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from abwb.config import MetricDefinition
from abwb.errors import InvalidInput
from abwb.metrics import compute_statistics, daily_cumulative_statistics

REV = MetricDefinition(key="rev", kind="sum", event="buy", value_column="value")


def _paths(info: pytest.ExceptionInfo[InvalidInput]) -> list[str]:
    return [p.path for p in info.value.problems]


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_missing_columns_are_named(engine: str, small_exposures: pl.DataFrame,
                                   small_events: pl.DataFrame) -> None:
    with pytest.raises(InvalidInput) as info:
        compute_statistics(small_exposures.drop("variant", "exposed_at"), small_events, [REV],
                           experiment="exp", engine=engine)  # type: ignore[arg-type]
    assert _paths(info) == ["exposures.variant", "exposures.exposed_at"]
    assert "missing column" in str(info.value)
    with pytest.raises(InvalidInput) as info:
        compute_statistics(small_exposures, small_events.drop("name"), [REV], experiment="exp",
                           engine=engine)  # type: ignore[arg-type]
    assert _paths(info) == ["events.name"]


def test_wrong_dtypes_are_named(small_exposures: pl.DataFrame, small_events: pl.DataFrame) -> None:
    exposures = small_exposures.with_columns(pl.col("phase").cast(pl.String),
                                             pl.col("unit_id").cast(pl.Categorical))
    events = small_events.with_columns(pl.col("value").cast(pl.String),
                                       pl.col("occurred_at").cast(pl.Int64))
    with pytest.raises(InvalidInput) as info:
        compute_statistics(exposures, small_events, [REV], experiment="exp")
    assert str(info.value) == "exposures.phase: expected a numeric column (Int32), got String"
    with pytest.raises(InvalidInput) as info:
        compute_statistics(small_exposures, events, [REV], experiment="exp")
    assert str(info.value) == ("events.occurred_at: expected a Datetime column, got Int64; "
                               "events.value: expected a numeric column (Float64), got String")


def test_timezone_naive_timestamps_are_refused(small_exposures: pl.DataFrame,
                                               small_events: pl.DataFrame) -> None:
    naive = small_events.with_columns(pl.col("occurred_at").dt.replace_time_zone(None))
    with pytest.raises(InvalidInput) as info:
        compute_statistics(small_exposures, naive, [REV], experiment="exp")
    assert _paths(info) == ["events.occurred_at"] and "timezone-naive" in str(info.value)
    with pytest.raises(InvalidInput, match="as_of: must be timezone-aware"):
        compute_statistics(small_exposures, small_events, [REV], experiment="exp",
                           as_of=datetime(2026, 1, 1))


def test_unknown_metric_and_missing_value_column(small_exposures: pl.DataFrame,
                                                 small_events: pl.DataFrame) -> None:
    with pytest.raises(InvalidInput) as info:
        compute_statistics(small_exposures, small_events, ["rev", "nope"], experiment="exp",
                           catalog=[REV])
    assert str(info.value) == "metrics[1]: unknown metric 'nope'; known metrics: ['rev']"
    amount = MetricDefinition(key="amt", kind="sum", event="buy", value_column="amount")
    with pytest.raises(InvalidInput) as info:
        compute_statistics(small_exposures, small_events, [amount], experiment="exp")
    assert _paths(info) == ["events.amount"]
    with pytest.raises(InvalidInput, match=r"metrics\[1\].key: metric 'rev' given twice"):
        compute_statistics(small_exposures, small_events, [REV, REV], experiment="exp")
    with pytest.raises(InvalidInput, match="metrics: expected at least one"):
        compute_statistics(small_exposures, small_events, [], experiment="exp")


def test_bad_options_and_sources(small_exposures: pl.DataFrame, small_events: pl.DataFrame,
                                 tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"engine: expected one of .*, got 'hive'"):
        compute_statistics(small_exposures, small_events, [REV], experiment="exp",
                           engine="hive")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="engine: engine 'spark' runs where the data is"):
        compute_statistics(small_exposures, small_events, [REV], experiment="exp",
                           engine="spark")
    with pytest.raises(InvalidInput, match="crossovers: expected"):
        compute_statistics(small_exposures, small_events, [REV], experiment="exp",
                           crossovers="last")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="phase: expected an int >= 1, got 0"):
        compute_statistics(small_exposures, small_events, [REV], experiment="exp", phase=0)
    with pytest.raises(InvalidInput, match="experiment: expected an experiment key"):
        compute_statistics(small_exposures, small_events, [REV], experiment="")
    with pytest.raises(InvalidInput, match="exposures: expected a polars DataFrame"):
        compute_statistics({"unit_id": []}, small_events, [REV], experiment="exp")
    with pytest.raises(InvalidInput, match="events: no Parquet file matches"):
        daily_cumulative_statistics(small_exposures, str(tmp_path / "*.parquet"), [REV],
                                    experiment="exp")
