"""EventStore contract: idempotent appends, exact frame schemas, filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from abwb.errors import InvalidInput
from abwb.events import (
    EVENT_SCHEMA,
    EXPOSURE_SCHEMA,
    AppendResult,
    Exposure,
    events_frame,
    exposure_id,
    exposures_frame,
)
from abwb.store import EventStore

from .samples import T0, event, exposure


def test_events_round_trip_with_the_contract_schema(event_store: EventStore) -> None:
    rows = [event(i) for i in range(50)] + [event(50, value=None)]
    assert event_store.append_events(rows) == AppendResult(accepted=51, duplicates=0)
    frame = event_store.read_events()
    assert frame.schema == EVENT_SCHEMA
    assert_frame_equal(frame, events_frame(rows))


def test_duplicate_event_ids_are_stored_once(event_store: EventStore) -> None:
    first = [event(i) for i in range(10)]
    assert event_store.append_events(first) == AppendResult(accepted=10, duplicates=0)
    again = [event(i) for i in range(5, 15)] + [event(14), event(20), event(20)]
    assert event_store.append_events(again) == AppendResult(accepted=6, duplicates=7)
    ids = event_store.read_events()["event_id"]
    assert ids.n_unique() == ids.len() == 16


def test_events_filter_by_name_and_half_open_time_range(event_store: EventStore) -> None:
    rows = [event(i, name="purchase" if i % 3 else "click") for i in range(30)]
    event_store.append_events(rows)
    since, until = T0 + timedelta(seconds=10), T0 + timedelta(seconds=20)
    frame = event_store.read_events(names=["click"], since=since, until=until)
    assert frame["event_id"].to_list() == ["ev-12", "ev-15", "ev-18"]
    assert event_store.read_events(names=[]).height == 0
    assert event_store.read_events(names=["purchase", "click"]).height == 30
    # A non-UTC offset means the same instant.
    later = since.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    assert event_store.read_events(since=later).height == 20


def test_exposures_round_trip_dedup_and_filter(event_store: EventStore) -> None:
    rows = [exposure(i) for i in range(20)] + [exposure(i, experiment="pricing") for i in range(5)]
    assert event_store.append_exposures(rows) == AppendResult(accepted=25, duplicates=0)
    assert event_store.append_exposures(rows[:3]) == AppendResult(accepted=0, duplicates=3)
    frame = event_store.read_exposures()
    assert frame.schema == EXPOSURE_SCHEMA
    assert_frame_equal(frame, exposures_frame(rows).sort("exposed_at", "exposure_id"))
    checkout = event_store.read_exposures(
        experiment="checkout", since=T0 + timedelta(seconds=5), until=T0 + timedelta(seconds=8)
    )
    assert checkout["unit_id"].to_list() == ["u-5", "u-6", "u-7"]


def test_many_exposures_each_id_kept_once_the_first_stored_wins(event_store: EventStore) -> None:
    """Thousands of ids over overlapping batches: each kept once, as first stored.

    The in-process store splits its rows over many tables by id: every one of them must
    de-duplicate like the SQL stores' unique key.
    """
    first = [exposure(i) for i in range(3000)]
    assert event_store.append_exposures(first[:2000]) == AppendResult(accepted=2000, duplicates=0)
    # The same ids again, now claiming the other variant and a later time: ignored.
    later = [
        msgspec.structs.replace(r, variant="other", exposed_at=r.exposed_at + timedelta(days=1))
        for r in first[1000:2000]
    ]
    batch = later + first[2000:] + first[2000:2010]
    assert event_store.append_exposures(batch) == AppendResult(accepted=1000, duplicates=1010)
    frame = event_store.read_exposures()
    assert frame.height == frame["exposure_id"].n_unique() == 3000
    assert_frame_equal(frame, exposures_frame(first).sort("exposed_at", "exposure_id"))


def test_ids_of_every_shape_each_kept_once_the_first_stored_wins(event_store: EventStore) -> None:
    """One unit's ids across experiments and phases, and client-made ids of any shape.

    The in-process store files ids by what follows their first ``/`` (one unit's rows
    together): a unit seen once then again, interleaved units, ids without ``/`` or
    ending with it must de-duplicate as the SQL stores' unique key does.
    """

    def row(key: str, unit: str, variant: str = "control", seconds: int = 0) -> Exposure:
        return Exposure(
            exposure_id=key,
            experiment="checkout",
            variant=variant,
            phase=1,
            unit_type="user",
            unit_id=unit,
            config_version=1,
            exposed_at=T0 + timedelta(seconds=seconds),
        )

    def unit_rows(unit: str, phases: range, n: int, seconds: int = 0) -> list[Exposure]:
        return [
            row(exposure_id(f"exp-{e}", p, "user", unit), unit, seconds=seconds)
            for p in phases
            for e in range(n)
        ]

    odd = [row(i, "x") for i in ("plain", "a/", "/b", "a/b", "b/b", "/", "c//b")]
    first = unit_rows("u-1", range(1, 2), 1) + unit_rows("u-2", range(1, 3), 5) + odd
    assert event_store.append_exposures(first) == AppendResult(accepted=18, duplicates=0)
    # u-1 again, now with more experiments; u-2 interleaved; repeats of the odd ids
    # claiming another variant; u-3 new, twice in the batch.
    again = [row(r.exposure_id, "x", variant="other", seconds=9) for r in odd]
    batch = (
        unit_rows("u-1", range(1, 2), 4, seconds=5)
        + again
        + unit_rows("u-2", range(2, 4), 5, seconds=5)
        + unit_rows("u-3", range(1, 2), 3)
        + unit_rows("u-3", range(1, 2), 3)
    )
    assert event_store.append_exposures(batch) == AppendResult(accepted=11, duplicates=16)
    frame = event_store.read_exposures()
    assert frame.height == frame["exposure_id"].n_unique() == 29
    kept = {r["exposure_id"]: r for r in frame.iter_rows(named=True)}
    assert all(kept[r.exposure_id]["variant"] == "control" for r in odd)
    assert kept["exp-0/p1/user/u-1"]["exposed_at"] == T0  # the first copy
    assert kept["exp-3/p1/user/u-1"]["exposed_at"] == T0 + timedelta(seconds=5)
    assert sorted(kept) == sorted({r.exposure_id for r in first + batch})


def test_empty_store_and_empty_batches(event_store: EventStore) -> None:
    assert event_store.append_events([]) == AppendResult(accepted=0, duplicates=0)
    assert event_store.append_exposures([]) == AppendResult(accepted=0, duplicates=0)
    assert event_store.read_events().schema == EVENT_SCHEMA
    assert event_store.read_exposures(experiment="x").schema == EXPOSURE_SCHEMA


def test_unicode_and_awkward_text_survive(event_store: EventStore) -> None:
    row = event(1).__class__(
        event_id='é,"quoted"\nline',
        unit_type="user",
        unit_id="ユーザー\t1",
        name="purchase",
        value=-0.0,
        occurred_at=datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        properties='{"note": "a,b\\n\\"c\\""}',
    )
    empty_props = event(2).__class__(
        event_id="e2", unit_type="user", unit_id="u", name="n", occurred_at=T0, properties="{}"
    )
    event_store.append_events([row, empty_props])
    assert_frame_equal(event_store.read_events(), events_frame([row, empty_props]))


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"since": datetime(2026, 1, 1)}, "since"),
        ({"until": "2026-01-01"}, "until"),
        ({"since": T0, "until": T0 - timedelta(days=1)}, "since"),
        ({"names": "purchase"}, "names"),
    ],
)
def test_bad_read_arguments_name_the_field(
    event_store: EventStore, kwargs: dict[str, object], path: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        event_store.read_events(**kwargs)  # type: ignore[arg-type]
    assert info.value.problems[0].path == path


def test_append_rejects_wrong_row_types_before_writing(event_store: EventStore) -> None:
    with pytest.raises(InvalidInput) as info:
        event_store.append_events([event(1), {"event_id": "x"}])  # type: ignore[list-item]
    assert info.value.problems[0].path == "rows[1]"
    assert event_store.read_events().height == 0
    assert isinstance(event_store.read_events(), pl.DataFrame)
