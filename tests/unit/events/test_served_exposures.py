"""The trusted exposure path: rows of served decisions equal the validated rows.

``Exposure.from_decision`` validates nothing per field; these properties show it needs
not: for any decision the engine can make (keys are config slugs, the phase within
``MAX_PHASE``) and any unit that ``check_served_unit`` accepts, its row equals the
row the validating constructor builds; and any unit fields that would make the
constructor refuse a row are refused by ``check_served_unit`` first, so they never
reach the trusted path (``ExposureLog.offer`` counts them as ``dropped_invalid``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abwb.assignment.decision import Decision, Reason
from abwb.assignment.hashing import MAX_UNIT_ID_BYTES
from abwb.cache.memory import MemoryAssignmentCache
from abwb.config.validation import KEY_PATTERN
from abwb.errors import InvalidInput
from abwb.events import AppendResult
from abwb.events.exposure_log import ExposureLog
from abwb.events.models import (
    MAX_ID_BYTES,
    MAX_PHASE,
    MAX_UNIT_TYPE_BYTES,
    Exposure,
    check_served_unit,
    exposure_id,
)
from abwb.settings import ExposureSettings
from abwb.store.memory import MemoryEventStore

keys = st.from_regex(KEY_PATTERN, fullmatch=True)
#: The longest keys and phases too: the exposure id's length is what is at stake.
engine_decisions = st.builds(
    Decision,
    experiment=st.one_of(keys, st.just("e" * 64)),
    variant=keys,
    reason=st.sampled_from([r for r in Reason if r.in_experiment]),
    phase=st.one_of(st.integers(1, MAX_PHASE), st.just(MAX_PHASE)),
)
#: Any text, including what the validator refuses (empty, NUL, too long, surrogates).
texts = st.one_of(
    st.text(max_size=8),
    st.text(min_size=MAX_UNIT_TYPE_BYTES - 2, max_size=MAX_UNIT_TYPE_BYTES + 2),
    st.text(st.characters(codec="utf-8"), min_size=120, max_size=MAX_UNIT_ID_BYTES + 2),
    st.text(alphabet="u", min_size=MAX_UNIT_ID_BYTES - 1, max_size=MAX_UNIT_ID_BYTES + 1),
    st.sampled_from(["", "a\x00b", "\ud800"]),
)
versions = st.one_of(st.integers(0, 2**63 - 1), st.integers(-(2**64), 2**64))
times = st.one_of(
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7))])),
    st.datetimes(),  # naive: refused
)


def validated(d: Decision, unit_type: str, unit_id: str, version: int, at: datetime) -> Exposure:
    assert d.variant is not None
    return Exposure(
        exposure_id=exposure_id(d.experiment, d.phase, unit_type, unit_id),
        experiment=d.experiment,
        variant=d.variant,
        phase=d.phase,
        unit_type=unit_type,
        unit_id=unit_id,
        config_version=version,
        exposed_at=at,
    )


@settings(max_examples=400, deadline=None)
@given(engine_decisions, texts, texts, versions, times)
def test_the_validator_refuses_nothing_that_check_served_unit_lets_through(
    d: Decision, unit_type: str, unit_id: str, version: int, at: datetime
) -> None:
    try:
        check_served_unit(unit_type, unit_id, version, at)
    except InvalidInput:
        passed = False
    else:
        passed = True
    try:
        row = validated(d, unit_type, unit_id, version, at)
    except InvalidInput:
        assert not passed, "check_served_unit let through a unit the validator refuses"
        return
    # a row the validator accepts: its unit is accepted as well (no needless drops)
    assert passed
    fast = Exposure.from_decision(
        d,
        unit_type=unit_type,
        unit_id=unit_id,
        config_version=version,
        exposed_at=at,
    )
    assert type(fast) is Exposure
    assert fast == row
    assert msgspec.json.encode(fast) == msgspec.json.encode(row)
    assert msgspec.structs.asdict(fast) == msgspec.structs.asdict(row)


def test_the_longest_served_exposure_id_fits_the_store_limit() -> None:
    d = Decision(experiment="e" * 64, variant="v", reason=Reason.ASSIGNED, phase=MAX_PHASE)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    unit_type, unit_id = "t" * MAX_UNIT_TYPE_BYTES, "é" * (MAX_UNIT_ID_BYTES // 2)
    check_served_unit(unit_type, unit_id, 0, at)
    row = validated(d, unit_type, unit_id, 0, at)
    assert len(row.exposure_id.encode()) <= MAX_ID_BYTES
    with pytest.raises(InvalidInput, match="unit_id: must be at most 256 bytes"):
        check_served_unit(unit_type, unit_id + "u", 0, at)


def test_ingestion_applies_the_same_unit_id_limit() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="unit_id: must be at most 256 bytes"):
        validated(
            Decision(experiment="e", variant="v", reason=Reason.ASSIGNED),
            "user",
            "u" * (MAX_UNIT_ID_BYTES + 1),
            0,
            at,
        )


NOW = datetime(2026, 6, 1, tzinfo=UTC)


class CapturingStore(MemoryEventStore):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[Exposure] = []

    def append_exposures(self, rows: Sequence[Exposure]) -> AppendResult:
        self.rows += rows
        return super().append_exposures(rows)


def test_offer_queues_rows_equal_to_the_validated_ones_and_drops_what_cannot_be_stored() -> None:
    async def run() -> None:
        store = CapturingStore()
        log = ExposureLog(store, MemoryAssignmentCache(), ExposureSettings(flush_interval_s=0.01))
        await log.start()
        served = [
            Decision(experiment="a", variant="control", reason=Reason.ASSIGNED, phase=2),
            Decision(experiment="b", variant="on", reason=Reason.STICKY),
            Decision(experiment="c", variant=None, reason=Reason.TARGETING_MISS),
        ]
        assert log.offer(served, unit_id="u-1", unit_type="user", config_version=7, now=NOW) == 2
        # unit fields the validator refuses: nothing reaches the queue, all counted
        for unit_id, unit_type, now in [
            ("u" * (MAX_UNIT_ID_BYTES + 1), "user", NOW),
            ("u\x00", "user", NOW),
            ("u-2", "t" * (MAX_UNIT_TYPE_BYTES + 1), NOW),
            ("u-3", "user", NOW.replace(tzinfo=None)),
        ]:
            assert (
                log.offer(served, unit_id=unit_id, unit_type=unit_type, config_version=7, now=now)
                == 0
            )
        # a phase beyond the stores' column: that row only
        too_far = Decision(experiment="d", variant="x", reason=Reason.ASSIGNED, phase=MAX_PHASE + 1)
        assert (
            log.offer(
                [too_far, served[0]], unit_id="u-4", unit_type="user", config_version=7, now=NOW
            )
            == 1
        )
        await log.stop()
        assert log.counts["dropped_invalid"] == 4 * 2 + 1
        stored = sorted((msgspec.structs.astuple(r) for r in store.rows), key=str)
        expected = sorted(
            (
                msgspec.structs.astuple(validated(d, "user", unit, 7, NOW))
                for unit, d in [("u-1", served[0]), ("u-1", served[1]), ("u-4", served[0])]
            ),
            key=str,
        )
        assert stored == expected
        assert all(type(r) is Exposure for r in store.rows)

    asyncio.run(run())


def test_exposure_rows_are_not_tracked_by_the_garbage_collector() -> None:
    # A serving process holds up to ExposureSettings.max_queue rows waiting for the store
    # (and an in-memory store keeps every row): tracked, each would be traversed by every
    # collection they survive. Their fields (str, int, datetime) cannot form a cycle.
    import gc

    at = datetime(2026, 1, 1, tzinfo=UTC)
    d = Decision(experiment="e", variant="b", reason=Reason.ASSIGNED)
    key = exposure_id("e", 1, "user", "u")
    trusted = Exposure.from_decision(
        d, unit_type="user", unit_id="u", config_version=1, exposed_at=at
    )
    checked = Exposure(
        exposure_id=key,
        experiment="e",
        variant="b",
        phase=1,
        unit_type="user",
        unit_id="u",
        config_version=1,
        exposed_at=at,
    )
    assert trusted == checked
    assert not gc.is_tracked(trusted) and not gc.is_tracked(checked)
