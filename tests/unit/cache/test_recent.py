"""RecentKeys and RecentUnits: the bounded memories behind in-process exposure de-duplication."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abwb.cache.recent import RecentKeys, RecentUnits


def remembered(recent: RecentKeys, keys: list[str]) -> list[str]:
    """Which of ``keys`` are remembered (probing at time 0 marks the others: fine here)."""
    return [key for key in keys if not recent.first(key, now=0.0, ttl_s=1.0)]


def test_the_newest_half_is_remembered_and_the_oldest_forgotten_first() -> None:
    recent = RecentKeys(1_000)
    keys = [f"k{i}" for i in range(5_000)]
    for i, key in enumerate(keys):
        assert recent.first(key, now=0.0, ttl_s=1.0)
        assert len(recent) <= 1_000
        newest = keys[max(0, i - 499) : i + 1]
        assert remembered(recent, newest) == newest
    # after 5,000 keys, those older than the last 1,000 are gone; the last 500 stay
    assert remembered(recent, keys[:4_000]) == []


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(min_value=2, max_value=40),
    ops=st.lists(st.integers(min_value=0, max_value=60), max_size=300),
)
def test_first_agrees_with_a_last_k_model(capacity: int, ops: list[int]) -> None:
    """A key marked among the newest capacity // 2 marks is a repeat; one older than the
    last capacity marks is new again; memory never holds more than capacity keys."""
    recent = RecentKeys(capacity)
    history: list[str] = []  # keys actually (re)marked, oldest first
    for op in ops:
        key = f"k{op}"
        first = recent.first(key, now=0.0, ttl_s=1.0)
        marks_since = None
        if key in history:
            marks_since = len(history) - 1 - max(i for i, k in enumerate(history) if k == key)
        if marks_since is not None and marks_since < capacity // 2:
            assert not first, (key, marks_since)
        if marks_since is None or marks_since >= capacity:
            assert first, (key, marks_since)
        if first:
            history.append(key)
        assert len(recent) <= capacity


def test_expired_keys_are_seen_anew_and_remembered_again() -> None:
    recent = RecentKeys(10)
    assert recent.first("a", now=0.0, ttl_s=10.0)
    assert not recent.first("a", now=9.9, ttl_s=10.0)
    assert recent.first("a", now=10.0, ttl_s=10.0)
    assert not recent.first("a", now=19.0, ttl_s=10.0)


def test_discard_forgets_a_key_in_either_generation() -> None:
    recent = RecentKeys(4)  # generations of 2
    for key in ("old-1", "old-2"):  # fill the young generation: it becomes the old one
        recent.first(key, now=0.0, ttl_s=10.0)
    recent.first("young", now=0.0, ttl_s=10.0)
    recent.discard("old-1")
    recent.discard("young")
    recent.discard("never-seen")
    assert [k for k in ("old-1", "old-2", "young") if recent.first(k, 1.0, 10.0)] == [
        "old-1",
        "young",
    ]


def test_memory_stays_bounded_under_churn() -> None:
    rng = random.Random(7)
    recent = RecentKeys(10_000)
    for _ in range(200_000):
        recent.first(f"u{rng.randrange(1_000_000)}", now=0.0, ttl_s=60.0)
    assert 5_000 <= len(recent) <= 10_000
    # the retired generation is released as keys arrive, not kept beside the live ones
    assert len(recent._retired) <= 5_000


def test_a_capacity_below_two_is_refused() -> None:
    with pytest.raises(ValueError, match="capacity must be at least 2"):
        RecentKeys(1)


class X:
    """An exposure as RecentUnits reads it."""

    def __init__(self, experiment: str, phase: int = 1) -> None:
        self.experiment, self.phase = experiment, phase

    def __repr__(self) -> str:
        return f"X({self.experiment!r}, {self.phase})"


def names(xs: list[X]) -> list[str]:
    return [f"{x.experiment}@{x.phase}" for x in xs]


def test_a_returning_unit_is_new_only_for_what_it_was_not_exposed_to() -> None:
    recent = RecentUnits(100)
    assert names(recent.mark_new(("user", "u"), [X("a"), X("b")])) == ["a@1", "b@1"]
    assert recent.mark_new(("user", "u"), [X("b"), X("a")]) == []
    # a new experiment, and a new phase of one already logged
    assert names(recent.mark_new(("user", "u"), [X("a"), X("b", 2), X("c")])) == ["b@2", "c@1"]
    # the same unit id of another unit type is another unit
    assert names(recent.mark_new(("device", "u"), [X("a")])) == ["a@1"]
    # repeated within one offer: the first is new, the repeat is not
    assert names(recent.mark_new(("user", "v"), [X("a"), X("a")])) == ["a@1"]


def test_discard_forgets_one_exposure_of_a_unit_in_either_generation() -> None:
    recent = RecentUnits(4)  # generations of 2 units
    recent.mark_new("old", [X("a"), X("b")])
    recent.mark_new("old-2", [X("a")])  # the young generation is full: it turns old
    recent.mark_new("young", [X("a")])
    recent.discard("old", "a", 1)
    recent.discard("old", "b", 7)  # another phase: nothing to forget
    recent.discard("young", "a", 1)
    recent.discard("never-seen", "a", 1)
    assert names(recent.mark_new("old", [X("a"), X("b")])) == ["a@1"]
    assert names(recent.mark_new("young", [X("a")])) == ["a@1"]


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(min_value=2, max_value=12),
    ops=st.lists(
        st.tuples(st.integers(0, 15), st.sampled_from("abc"), st.integers(1, 2)), max_size=300
    ),
)
def test_units_agree_with_a_last_k_model(capacity: int, ops: list[tuple[int, str, int]]) -> None:
    """A unit marked among the newest capacity // 2 units keeps its marks exactly; one
    not marked within the last capacity units is forgotten; memory holds <= capacity."""
    recent = RecentUnits(capacity)
    known: dict[int, dict[str, int]] = {}  # marks certainly still held
    maybe: dict[int, dict[str, int]] = {}  # marks perhaps forgotten
    history: list[int] = []  # units in the order they were marked
    for unit, experiment, phase in ops:
        since = None  # other units marked since this one was
        if unit in history:
            last = max(i for i, u in enumerate(history) if u == unit)
            since = len(set(history[last + 1 :]) - {unit})
        if since is not None and since >= capacity // 2:  # perhaps forgotten
            maybe[unit] = {**maybe.get(unit, {}), **known.pop(unit, {})}
        if since is not None and since >= capacity:  # certainly forgotten
            maybe.pop(unit, None)
        new = recent.mark_new(unit, [X(experiment, phase)])
        if known.get(unit, {}).get(experiment) == phase:
            assert new == [], (unit, since)
        elif maybe.get(unit, {}).get(experiment) != phase:
            assert len(new) == 1, (unit, since)
        known.setdefault(unit, {})[experiment] = phase
        maybe.get(unit, {}).pop(experiment, None)
        history.append(unit)
        assert len(recent) <= capacity


def test_units_stay_bounded_under_churn() -> None:
    rng = random.Random(7)
    recent = RecentUnits(1_000)
    for _ in range(50_000):
        recent.mark_new(("user", f"u{rng.randrange(100_000)}"), [X("a"), X("b")])
    assert 500 <= len(recent) <= 1_000
    assert len(recent._retired) <= 500
