"""RecentKeys: the bounded memory behind in-process exposure de-duplication."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abwb.cache.recent import RecentKeys


def unseen(recent: RecentKeys, keys: list[str]) -> list[str]:
    return [key for key, _ in recent.unseen(keys, keys)]


def test_the_newest_half_is_remembered_and_the_oldest_forgotten_first() -> None:
    recent = RecentKeys(1_000)
    keys = [f"k{i}" for i in range(5_000)]
    for i, key in enumerate(keys):
        recent.add_all([key])
        assert len(recent) <= 1_000
        newest = keys[max(0, i - 499) : i + 1]
        assert unseen(recent, newest) == []
    # after 5,000 keys, those older than the last 1,000 are gone; the last 500 stay
    assert unseen(recent, keys[:4_000]) == keys[:4_000]
    assert unseen(recent, keys[-500:]) == []


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
    recent.add_all(["old-1", "old-2"])  # fills the young generation: it becomes the old one
    recent.add_all(["young"])
    assert unseen(recent, ["old-1", "young"]) == []
    recent.discard("old-1")
    recent.discard("young")
    recent.discard("never-seen")
    assert unseen(recent, ["old-1", "old-2", "young"]) == ["old-1", "young"]
    assert recent.first("old-1", now=0.0, ttl_s=1.0)


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
