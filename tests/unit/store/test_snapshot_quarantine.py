"""A config that does not compile never blocks newer versions: broken objects are quarantined."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from abwb.config import ConfigBundle, Experiment, Flag, FlagRule, Segment, Variant
from abwb.snapshot import ConfigSnapshotHolder, QuarantinedObject
from abwb.store import SqliteConfigStore

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _experiment(key: str, segment: str | None = None) -> Experiment:
    return Experiment(
        key=key,
        status="running",
        targeting=None if segment is None else {"segment": segment},
        variants=[Variant(key="control", weight=0.5, is_control=True),
                  Variant(key="b", weight=0.5)],
    )


def _flag(key: str, *, killed: bool = False, segment: str | None = None) -> Flag:
    rules = [] if segment is None else [FlagRule(condition={"segment": segment}, variation="on")]
    return Flag(key=key, type="bool", variations={"on": True, "off": False},
                default_variation="on", off_variation="off", killed=killed, rules=rules)


def test_broken_objects_are_quarantined_and_the_rest_is_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bundle = ConfigBundle(
        experiments=[_experiment("good"), _experiment("dangling", segment="gone")],
        flags=[_flag("kill-me", killed=True, segment="gone"), _flag("fine")],
        version=7,
    )
    holder = ConfigSnapshotHolder()
    with caplog.at_level(logging.ERROR, logger="abwb.snapshot.quarantine"):
        assert holder.offer(bundle, source="store")
    snapshot = holder.current
    assert snapshot.version == 7
    assert sorted((q.section, q.key, q.served) for q in snapshot.quarantined) == [
        ("experiments", "dangling", "nothing"),
        ("flags", "kill-me", "killed"),
    ]
    assert all("unknown segment 'gone'" in q.reason for q in snapshot.quarantined)
    assert holder.counters["quarantined"] == 2
    assert "quarantined" in caplog.text and "'dangling'" in caplog.text
    # The valid experiment is served; the broken one is not (it is not in the bundle).
    assert snapshot.assigner.decide("good", "u1", now=NOW).variant in {"control", "b"}
    assert [e.key for e in snapshot.bundle.experiments] == ["good"]
    # The killed flag keeps serving its off variation; the other flag is untouched.
    killed = snapshot.flags.evaluate("kill-me", "u1", now=NOW)
    assert (killed.value, killed.variation) == (False, "off")
    assert snapshot.flags.evaluate("fine", "u1", now=NOW).value is True


def test_a_fixed_newer_version_replaces_the_quarantined_one() -> None:
    holder = ConfigSnapshotHolder()
    holder.offer(ConfigBundle(experiments=[_experiment("e", segment="gone")], version=1))
    assert [q.key for q in holder.current.quarantined] == ["e"]
    fixed = ConfigBundle(
        experiments=[_experiment("e", segment="s")],
        segments=[Segment(key="s", condition={"attr": "plan", "op": "eq", "value": "pro"})],
        version=2,
    )
    assert holder.offer(fixed)
    assert holder.current.quarantined == ()
    assert [e.key for e in holder.current.bundle.experiments] == ["e"]


def test_a_dangling_reference_in_the_store_does_not_stop_a_kill(tmp_path: Path) -> None:
    # Written straight to the store, as an older build could have: the segment is gone.
    store = SqliteConfigStore(tmp_path / "abwb.db")
    store.create("flag", _flag("f"), actor="ana")
    store.create("experiment", _experiment("e", segment="gone"), actor="ana")
    holder = ConfigSnapshotHolder(snapshot_file=tmp_path / "snapshot.json")
    holder.start(store)
    assert holder.current.quarantined == (
        QuarantinedObject("experiments", "e", holder.current.quarantined[0].reason),
    )
    flag = store.get("flag", "f")
    store.update("flag", msgspec.structs.replace(flag, killed=True), expected_version=1,
                 actor="oncall")
    assert holder.refresh()
    assert holder.version == store.config_version() == 3
    assert holder.current.flags.evaluate("f", "u1", now=NOW).value is False
    store.close()
