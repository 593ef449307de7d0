"""Config writes are serialisable: racing calls never store a dangling reference or a double start.

Each trial races two threads through :class:`~abwb.changes.ConfigChanges` on one real
store (an SQLite file, a PostgreSQL schema), released together by a barrier: create an
experiment targeting segment S vs delete S, and start two overlapping experiments on one
surface. The figures (trials, dangling references, double starts) are printed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from abwb.changes import ConfigChanges
from abwb.config import Experiment, Segment, Variant
from abwb.errors import AbwbError, StorageError
from abwb.snapshot import ConfigSnapshotHolder
from abwb.store.config_objects import SqlConfigStore
from tests.contract.conftest import pg_schema  # noqa: F401  (the fixture, for _database)

TRIALS = 100
NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(params=[pytest.param("sqlite", id="sqlite"),
                        pytest.param("postgres", id="postgres", marks=pytest.mark.integration)])
def changes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ConfigChanges]:
    from tests.contract.conftest import _database

    db = _database(request.param, tmp_path, request)
    store = SqlConfigStore(db)
    holder = ConfigSnapshotHolder()
    holder.start(store)
    yield ConfigChanges(store, holder)
    db.close()


def _experiment(key: str, **fields: Any) -> Experiment:
    return Experiment(
        key=key,
        variants=[Variant(key="control", weight=0.5, is_control=True),
                  Variant(key="b", weight=0.5)],
        **fields,
    )


#: StorageErrors retried by _race (a lock wait past the 1 s limit on a loaded machine).
RETRIED: list[str] = []


def _race(*calls: Callable[[], object]) -> list[bool]:
    """Run ``calls`` at once (a barrier releases them); which ones succeeded.

    A refusal (``Conflict``, ``InvalidInput``, ``NotFound``) is a lost race; a
    ``StorageError`` is retried as a client would (a few times), and recorded.
    """
    barrier = threading.Barrier(len(calls))
    ok = [False] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        for _ in range(5):
            try:
                calls[i]()
                ok[i] = True
            except StorageError as exc:
                RETRIED.append(str(exc))
                continue
            except AbwbError:
                pass
            return

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ok


def test_create_with_segment_vs_delete_segment_never_dangles(changes: ConfigChanges) -> None:
    outcomes: dict[tuple[bool, bool], int] = {}
    for i in range(TRIALS):
        seg = f"s{i}"
        changes.create("segment", Segment(key=seg, condition={"attr": "plan", "op": "eq",
                                                              "value": "pro"}), actor="ana")
        targeted = _experiment(f"e{i}", targeting={"segment": seg})
        ok = _race(
            lambda: changes.create("experiment", targeted, actor="ana"),  # noqa: B023
            lambda: changes.delete("segment", seg, expected_version=None, actor="bob"),  # noqa: B023
        )
        outcomes[(ok[0], ok[1])] = outcomes.get((ok[0], ok[1]), 0) + 1
    bundle = changes.store.load_bundle()
    segments = {s.key for s in bundle.segments}
    dangling = [e.key for e in bundle.experiments
                if e.targeting is not None and e.targeting["segment"] not in segments]
    print(f"\ncreate-with-segment vs delete-segment: {TRIALS} trials, {len(dangling)} dangling, "
          f"outcomes (create ok, delete ok): {outcomes}; {len(RETRIED)} storage errors retried "
          f"so far: {RETRIED[:1]}")
    assert dangling == []
    assert outcomes.get((True, True), 0) == 0
    assert sum(outcomes.values()) == TRIALS


def test_two_starts_on_one_surface_never_both_run(changes: ConfigChanges) -> None:
    double = 0
    for i in range(TRIALS):
        keys = (f"a{i}", f"b{i}")
        for key in keys:
            changes.create("experiment", _experiment(key, surfaces=[f"page{i}"]), actor="ana")
        ok = _race(*(
            (lambda k=key: changes.change_status(k, "start", now=NOW, expected_version=None,
                                                 actor="ana"))
            for key in keys
        ))
        running = [changes.store.get("experiment", k).status == "running" for k in keys]
        double += all(running)
        assert ok == running
    print(f"\ntwo starts on one surface: {TRIALS} trials, {double} double starts "
          f"({len(RETRIED)} storage errors retried so far: {RETRIED[:1]})")
    assert double == 0
    assert len(changes.store.list("experiment", status="running", limit=1000)) == TRIALS


def test_a_kill_after_the_races_is_served(changes: ConfigChanges) -> None:
    from abwb.config import Flag

    flag = Flag(key="f", type="bool", variations={"on": True, "off": False},
                default_variation="on", off_variation="off")
    changes.create("flag", flag, actor="ana")
    changes.create("segment", Segment(key="s", condition={"attr": "plan", "op": "eq", "value": "x"}),
                   actor="ana")
    _race(
        lambda: changes.create("experiment", _experiment("e", targeting={"segment": "s"}),
                               actor="ana"),
        lambda: changes.delete("segment", "s", expected_version=None, actor="bob"),
    )
    changes.set_killed("f", True, actor="oncall")
    snapshot = changes.snapshot.current
    assert snapshot.version == changes.store.config_version()
    assert msgspec.structs.asdict(snapshot.bundle.flags[0])["killed"] is True
