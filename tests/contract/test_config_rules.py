"""Config rules (abwb.changes) give the same result on every config store.

Delete vs archive for each status, If-Match versions, audit rows and the config
version: run through :class:`~abwb.changes.ConfigChanges` on memory, SQLite and
PostgreSQL, each expecting the same literal outcome.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from abwb.changes import ConfigChanges
from abwb.errors import Conflict, InvalidInput, NotFound, VersionConflict
from abwb.snapshot import ConfigSnapshotHolder
from abwb.store import ConfigStore
from abwb.store.config_objects import SqlConfigStore

from .samples import experiment, segment

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def changes(config_store: ConfigStore) -> ConfigChanges:
    holder = ConfigSnapshotHolder()
    holder.start(config_store)
    return ConfigChanges(config_store, holder)


#: lifecycle actions taken after creating a draft → what DELETE does, and what remains.
HISTORIES = [
    pytest.param([], "delete", None, id="draft"),
    pytest.param(["archive"], "delete", None, id="archived-from-draft"),
    pytest.param(["start"], "archive", "archived", id="running"),
    pytest.param(["start", "pause"], "archive", "archived", id="paused"),
    pytest.param(["start", "stop"], "archive", "archived", id="stopped"),
    pytest.param(["start", "stop", "archive"], "archive", "archived", id="archived-after-run"),
]


@pytest.mark.parametrize(("actions", "audited", "remains"), HISTORIES)
def test_delete_or_archive_by_history(
    changes: ConfigChanges, actions: list[str], audited: str, remains: str | None
) -> None:
    changes.create("experiment", experiment(), actor="ana")
    for action in actions:
        changes.change_status("checkout", action, now=NOW, expected_version=None, actor="ana")
    version = len(actions) + 1
    result = changes.delete("experiment", "checkout", expected_version=version, actor="bob",
                            reason="cleanup")
    store = changes.store
    entry = store.audit(kind="experiment", key="checkout", limit=1)[0]
    assert (entry.action, entry.actor, entry.reason) == (audited, "bob", "cleanup")
    assert entry.config_version == version + 1 == store.config_version()
    if remains is None:
        assert result is None
        with pytest.raises(NotFound):
            store.get("experiment", "checkout")
        assert entry.after is None
    else:
        assert (result.status, result.version) == (remains, version + 1)
        assert store.get("experiment", "checkout") == result
        assert entry.after is not None and entry.after["status"] == remains
    assert len(store.audit(key="checkout")) == version + 1


def test_delete_with_a_stale_version_changes_nothing(changes: ConfigChanges) -> None:
    changes.create("experiment", experiment(), actor="ana")
    changes.change_status("checkout", "start", now=NOW, expected_version=1, actor="ana")
    with pytest.raises(VersionConflict):
        changes.delete("experiment", "checkout", expected_version=1, actor="bob")
    assert changes.store.get("experiment", "checkout").status == "running"
    assert changes.store.config_version() == 2


def test_update_with_if_match(changes: ConfigChanges) -> None:
    changes.create("experiment", experiment(), actor="ana")
    patch = {"variants": [msgspec.to_builtins(v) for v in experiment(weight=0.6).variants]}
    v2 = changes.update("experiment", "checkout", patch, expected_version=1, actor="ana")
    assert v2.version == 2
    with pytest.raises(VersionConflict, match="at version 2, not 1"):
        changes.update("experiment", "checkout", patch, expected_version=1, actor="bob")
    with pytest.raises(InvalidInput) as info:
        changes.update("experiment", "checkout", {"status": "running"}, expected_version=2,
                       actor="bob")
    assert info.value.problems[0].path == "status"
    assert [e.action for e in changes.store.audit(key="checkout")] == ["update", "create"]
    assert changes.store.config_version() == 2


def test_illegal_transition_is_refused_and_writes_nothing(changes: ConfigChanges) -> None:
    changes.create("experiment", experiment(), actor="ana")
    with pytest.raises(Conflict, match="cannot pause"):
        changes.change_status("checkout", "pause", now=NOW, expected_version=None, actor="ana")
    assert changes.store.config_version() == 1
    with pytest.raises(InvalidInput, match="created as 'draft'"):
        changes.create("experiment", experiment("other", status="running"), actor="ana")


def test_references_are_checked_inside_the_write(changes: ConfigChanges) -> None:
    targeted = msgspec.structs.replace(experiment(), targeting={"segment": "pro"})
    with pytest.raises(InvalidInput):
        changes.create("experiment", targeted, actor="ana")
    assert changes.store.config_version() == 0  # nothing written, not even in part
    changes.create("segment", segment(), actor="ana")
    changes.create("experiment", targeted, actor="ana")
    with pytest.raises(Conflict, match="other objects refer to it"):
        changes.delete("segment", "pro", expected_version=1, actor="bob")
    assert changes.store.get("segment", "pro").version == 1
    assert changes.store.config_version() == 2


def test_a_failed_change_rolls_back_every_write(config_store: ConfigStore) -> None:
    with pytest.raises(RuntimeError), config_store.change("two writes, then a failure") as tx:
        tx.create("segment", segment("a"), actor="ana")
        tx.create("segment", segment("b"), actor="ana")
        raise RuntimeError("boom")
    assert config_store.list("segment") == []
    assert config_store.config_version() == 0
    assert config_store.audit() == []


def test_reads_inside_a_change_see_its_own_writes(config_store: ConfigStore) -> None:
    with config_store.change("create and read back") as tx:
        tx.create("segment", segment("a"), actor="ana")
        assert [s.key for s in tx.load_bundle().segments] == ["a"]
        assert tx.load_bundle().version == 1
    assert config_store.load_bundle().version == 1


@pytest.fixture(params=[pytest.param("sqlite", id="sqlite"),
                        pytest.param("postgres", id="postgres", marks=pytest.mark.integration)])
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlConfigStore]:
    from .conftest import _database

    db = _database(request.param, tmp_path, request)
    store = SqlConfigStore(db)
    yield store
    db.close()


def test_a_missing_config_version_row_reads_as_zero_and_comes_back(
    sql_store: SqlConfigStore,
) -> None:
    # PostgreSQL used to answer 0 and SQLite crashed; both now answer 0, and the next
    # write re-creates the row instead of staying at 0 (which no holder would reload).
    with sql_store.database.transaction("losing the row") as conn:
        conn.execute("DELETE FROM config_meta")
    assert sql_store.config_version() == 0
    assert sql_store.load_bundle().version == 0
    sql_store.create("segment", segment(), actor="ana")
    assert sql_store.config_version() == 1
