"""Kill / revive as config changes: on a bundle, and through a real (SQLite) config store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from abwb.config import ConfigBundle, Flag, FlagRule, SplitShare
from abwb.errors import InvalidInput, NotFound, VersionConflict
from abwb.flags import FlagEvaluator, FlagReason, kill, revive, set_killed
from abwb.store import SqliteConfigStore

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def flag(**kw: Any) -> Flag:
    base: dict[str, Any] = {"key": "checkout", "type": "bool", "variations": {"on": True, "off": False},
                            "default_variation": "on", "off_variation": "off",
                            "rules": [FlagRule(split=[SplitShare("on", 0.5), SplitShare("off", 0.5)])]}
    base.update(kw)
    return Flag(**base)


def served(bundle: ConfigBundle) -> set[Any]:
    ev = FlagEvaluator(bundle)
    return {ev.evaluate("checkout", f"u{i}", {}, NOW).value for i in range(50)}


def test_kill_on_a_bundle_bumps_versions_and_serves_off_to_everyone() -> None:
    bundle = ConfigBundle(flags=[flag(version=3)], version=10)
    assert served(bundle) == {True, False}
    killed = kill(bundle, "checkout", actor="ana", reason="incident 42")
    assert (killed.version, killed.flags[0].version, killed.flags[0].killed) == (11, 4, True)
    assert served(killed) == {False}
    assert FlagEvaluator(killed).evaluate("checkout", "u1", {}, NOW).reason is FlagReason.DISABLED
    assert kill(killed, "checkout", actor="ana") is killed  # idempotent: nothing to write
    revived = revive(killed, "checkout", actor="ana", reason="fixed")
    assert (revived.version, revived.flags[0].killed) == (12, False)
    assert served(revived) == {True, False}
    assert bundle.flags[0].killed is False  # values, not mutation


def test_kill_errors_name_the_problem() -> None:
    with pytest.raises(NotFound, match="no flag 'nope'"):
        kill(ConfigBundle(), "nope", actor="ana")
    with pytest.raises(InvalidInput, match="actor: must name who"):
        kill(ConfigBundle(flags=[flag()]), "checkout", actor=" ")


def test_set_killed_is_pure() -> None:
    f = flag()
    assert set_killed(f, False) is f
    assert set_killed(f, True).killed and not f.killed


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = SqliteConfigStore(tmp_path / "abwb.db")
    yield s
    s.close()


def test_kill_through_the_store_writes_a_new_audited_version(store: SqliteConfigStore) -> None:
    store.create("flag", flag(), actor="ana")
    before = store.config_version()
    stored = kill(store, "checkout", actor="oncall", reason="error spike")
    assert stored.killed and stored.version == 2
    assert store.get("flag", "checkout").killed
    assert store.config_version() > before
    entry = store.audit(kind="flag", key="checkout", limit=1)[0]
    assert entry.actor == "oncall"
    assert served(store.load_bundle()) == {False}
    assert kill(store, "checkout", actor="oncall").version == 2  # already killed: no write
    assert revive(store, "checkout", actor="oncall", reason="ok").killed is False
    assert served(store.load_bundle()) == {True, False}


class RacingStore:
    """The real store, with another writer editing the flag just before our first write."""

    def __init__(self, store: SqliteConfigStore, races: int) -> None:
        self.store, self.races = store, races

    def get(self, kind: Any, key: str) -> Any:
        return self.store.get(kind, key)

    def update(self, kind: Any, obj: Any, *, expected_version: int, actor: str, reason: str = "") -> Any:
        if self.races:
            self.races -= 1
            current = self.store.get(kind, obj.key)
            self.store.update(kind, msgspec.structs.replace(current, description=f"edit {self.races}"),
                              expected_version=current.version, actor="someone-else")
        return self.store.update(kind, obj, expected_version=expected_version, actor=actor, reason=reason)


def test_kill_wins_over_a_concurrent_edit_and_keeps_it(store: SqliteConfigStore) -> None:
    store.create("flag", flag(), actor="ana")
    stored = kill(RacingStore(store, races=2), "checkout", actor="oncall", reason="incident")
    assert stored.killed and stored.description == "edit 0"  # the other edit survives


def test_kill_gives_up_on_a_flag_that_never_stops_changing(store: SqliteConfigStore) -> None:
    store.create("flag", flag(), actor="ana")
    with pytest.raises(VersionConflict, match="changed 5 times"):
        kill(RacingStore(store, races=99), "checkout", actor="oncall")


def test_kill_of_an_unknown_flag_in_the_store_is_not_found(store: SqliteConfigStore) -> None:
    with pytest.raises(NotFound):
        kill(store, "nope", actor="oncall")
