"""The in-process stores' index of rows by id: first wins, whatever the ids' shape."""

from __future__ import annotations

from operator import itemgetter

from hypothesis import given, settings
from hypothesis import strategies as st

from abwb.events.models import AppendResult
from abwb.store.memory import _RowsById

#: Ids over a small alphabet with ``/`` in it: groups that are suffixes of one another,
#: ids without ``/``, ids ending with it, the same id in one batch and in later ones.
IDS = st.text(alphabet="ab/", min_size=1, max_size=6)
BATCHES = st.lists(st.lists(IDS, max_size=12), max_size=8)


@settings(max_examples=400, deadline=None)
@given(BATCHES)
def test_each_id_kept_once_as_first_added_like_a_plain_dict(batches: list[list[str]]) -> None:
    index: _RowsById[tuple[str, int]] = _RowsById(itemgetter(0))
    reference: dict[str, tuple[str, int]] = {}
    seq = 0
    for ids in batches:
        rows = []
        for i in ids:
            rows.append((i, seq))
            seq += 1
        before = len(reference)
        for row in rows:
            reference.setdefault(row[0], row)
        accepted = len(reference) - before
        assert index.add(rows) == AppendResult(accepted=accepted, duplicates=len(rows) - accepted)
    assert sorted(index.rows()) == sorted(reference.values())
