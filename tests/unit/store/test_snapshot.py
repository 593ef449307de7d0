"""Config snapshots: forward-only swaps, last-known-good file, polling fan-out (SQLite)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from abwb.config import ConfigBundle, Experiment, Flag, Variant
from abwb.errors import StorageError
from abwb.snapshot import (
    ConfigSnapshotHolder,
    ConfigWatcher,
    read_snapshot_file,
    write_snapshot_file,
)
from abwb.store import SqliteConfigStore

from ...waiting import wait_for

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _experiment(status: str = "running") -> Experiment:
    return Experiment(
        key="checkout",
        status=status,  # type: ignore[arg-type]
        flag_key="new-checkout",
        variants=[
            Variant(key="control", weight=0.5, is_control=True),
            Variant(key="b", weight=0.5),
        ],
    )


def _flag(killed: bool = False) -> Flag:
    return Flag(
        key="new-checkout",
        type="bool",
        variations={"on": True, "off": False},
        default_variation="off",
        off_variation="off",
        killed=killed,
    )


class DownStore:
    """A store whose database is unreachable."""

    def config_version(self) -> int:
        raise StorageError("PostgreSQL is down")

    def load_bundle(self) -> ConfigBundle:
        raise StorageError("PostgreSQL is down")


def test_a_snapshot_never_replaces_a_newer_one() -> None:
    holder = ConfigSnapshotHolder()
    killed = ConfigBundle(experiments=[_experiment()], flags=[_flag(killed=True)], version=8)
    assert holder.offer(killed)
    # A late message carrying the pre-kill config (version 7) must not undo the kill.
    assert not holder.offer(ConfigBundle(experiments=[_experiment()], flags=[_flag()], version=7))
    assert not holder.offer(killed)
    assert holder.version == 8
    decision = holder.current.assigner.decide("checkout", "u1", now=NOW)
    assert decision.reason.value == "killed"
    assert holder.counters["stale_ignored"] == 2


def test_concurrent_offers_end_at_the_newest() -> None:
    holder = ConfigSnapshotHolder()
    versions = list(range(1, 201))
    threads = [
        threading.Thread(target=lambda v=v: holder.offer(ConfigBundle(version=v))) for v in versions
    ]
    for t in reversed(threads):
        t.start()
    for t in threads:
        t.join()
    assert holder.version == 200


def test_current_before_loading_is_a_clear_error() -> None:
    with pytest.raises(StorageError, match="no config snapshot loaded yet"):
        _ = ConfigSnapshotHolder().current


def test_start_saves_the_snapshot_file_and_restarts_from_it_when_the_store_is_down(
    tmp_path: Path,
) -> None:
    store = SqliteConfigStore(tmp_path / "abwb.db")
    store.create("flag", _flag(), actor="ana")
    store.create("experiment", _experiment(), actor="ana")
    snapshot_file = tmp_path / "lkg" / "snapshot.json"
    first = ConfigSnapshotHolder(snapshot_file=snapshot_file)
    assert first.start(store).version == 2
    assert read_snapshot_file(snapshot_file) == store.load_bundle()
    store.close()

    restarted = ConfigSnapshotHolder(snapshot_file=snapshot_file)
    snapshot = restarted.start(DownStore())
    assert (snapshot.version, snapshot.source) == (2, "file")
    assert snapshot.assigner.decide("checkout", "u1", now=NOW).variant in {"control", "b"}


def test_start_without_store_or_file_names_both_causes(tmp_path: Path) -> None:
    holder = ConfigSnapshotHolder(snapshot_file=tmp_path / "missing.json")
    with pytest.raises(StorageError, match=r"store: PostgreSQL is down; file: cannot read"):
        holder.start(DownStore())
    with pytest.raises(StorageError, match="no snapshot file is set"):
        ConfigSnapshotHolder().start(DownStore())


def test_snapshot_file_is_replaced_atomically_and_validated(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.json"
    write_snapshot_file(ConfigBundle(experiments=[_experiment()], version=3), path)
    write_snapshot_file(ConfigBundle(version=4), path)
    assert read_snapshot_file(path).version == 4
    assert [p.name for p in tmp_path.iterdir()] == ["snapshot.json"]  # no temp files left
    path.write_bytes(msgspec.json.encode({"experiments": [{"key": "x"}], "version": 5}))
    with pytest.raises(StorageError, match="is not valid"):
        read_snapshot_file(path)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StorageError, match="cannot write"):
        write_snapshot_file(ConfigBundle(version=1), blocker / "snapshot.json")


def test_polling_fans_a_kill_out_within_a_second(tmp_path: Path) -> None:
    writer = SqliteConfigStore(tmp_path / "abwb.db")
    writer.create("flag", _flag(), actor="ana")
    writer.create("experiment", _experiment(), actor="ana")
    reader = SqliteConfigStore(tmp_path / "abwb.db")  # another "process"
    holder = ConfigSnapshotHolder()
    with ConfigWatcher(holder, reader, poll_s=0.1):
        assert holder.wait_for(2, timeout_s=2)
        writer.update("flag", _flag(killed=True), expected_version=1, actor="oncall")
        assert holder.wait_for(3, timeout_s=1.0)  # the deadline is the contract
    assert holder.current.assigner.decide("checkout", "u1", now=NOW).reason.value == "killed"
    writer.close()
    reader.close()


def test_watcher_keeps_serving_when_refresh_fails() -> None:
    holder = ConfigSnapshotHolder()
    holder.offer(ConfigBundle(version=5))
    watcher = ConfigWatcher(holder, DownStore(), poll_s=0.02)  # type: ignore[arg-type]
    with watcher:
        wait_for(lambda: watcher.counters["refresh_failed"] >= 2, what="two failed refreshes")
    assert holder.version == 5  # still serving the last good snapshot


def test_watcher_can_drive_any_refresh_callback() -> None:
    calls: list[float] = []
    with ConfigWatcher.for_callback(lambda: calls.append(time.monotonic()), poll_s=0.02):
        wait_for(lambda: len(calls) >= 3, what="three refresh callbacks")


def test_snapshots_compile_targeting_against_the_bundle_segments() -> None:
    from abwb.config import Segment

    targeted = msgspec.structs.replace(_experiment(), flag_key=None, targeting={"segment": "pro"})
    bundle = ConfigBundle(
        experiments=[targeted],
        segments=[Segment(key="pro", condition={"attr": "plan", "op": "eq", "value": "pro"})],
        version=1,
    )
    holder = ConfigSnapshotHolder()
    holder.offer(bundle)
    assigner = holder.current.assigner
    assert assigner.decide("checkout", "u1", now=NOW, attributes={"plan": "pro"}).reason.value == "assigned"
    miss = assigner.decide("checkout", "u1", now=NOW, attributes={"plan": "free"})
    assert miss.reason.value == "targeting_miss"
