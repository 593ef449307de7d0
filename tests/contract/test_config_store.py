"""ConfigStore contract: every implementation behaves identically."""

from __future__ import annotations

import msgspec
import pytest

from abwb.config import ConfigBundle
from abwb.errors import Conflict, InvalidInput, NotFound, VersionConflict
from abwb.store import ConfigStore

from .samples import experiment, flag, layer, metric, segment


def test_create_returns_version_one_and_bumps_config_version(config_store: ConfigStore) -> None:
    assert config_store.config_version() == 0
    created = config_store.create("experiment", experiment(), actor="ana", reason="launch prep")
    assert created.version == 1
    assert config_store.get("experiment", "checkout") == created
    assert config_store.config_version() == 1


def test_create_existing_key_conflicts_and_changes_nothing(config_store: ConfigStore) -> None:
    config_store.create("segment", segment(), actor="ana")
    with pytest.raises(Conflict, match="segment 'pro' already exists"):
        config_store.create("segment", segment(), actor="bob")
    assert config_store.config_version() == 1
    assert len(config_store.audit()) == 1


def test_update_checks_the_expected_version(config_store: ConfigStore) -> None:
    config_store.create("experiment", experiment(), actor="ana")
    v2 = config_store.update("experiment", experiment(weight=0.6), expected_version=1, actor="ana")
    assert v2.version == 2
    assert config_store.get("experiment", "checkout").variants[0].weight == 0.6
    with pytest.raises(VersionConflict, match="at version 2, not the expected 1"):
        config_store.update("experiment", experiment(weight=0.7), expected_version=1, actor="bob")
    assert config_store.get("experiment", "checkout").variants[0].weight == 0.6
    assert config_store.config_version() == 2


def test_update_and_delete_of_missing_object_raise_not_found(config_store: ConfigStore) -> None:
    with pytest.raises(NotFound, match="flag 'nope' not found"):
        config_store.get("flag", "nope")
    with pytest.raises(NotFound):
        config_store.update("flag", flag("nope"), expected_version=1, actor="ana")
    with pytest.raises(NotFound):
        config_store.delete("flag", "nope", expected_version=1, actor="ana")


def test_delete_draft_removes_it(config_store: ConfigStore) -> None:
    config_store.create("experiment", experiment(), actor="ana")
    with pytest.raises(VersionConflict):
        config_store.delete("experiment", "checkout", expected_version=3, actor="ana")
    config_store.delete("experiment", "checkout", expected_version=1, actor="ana", reason="typo")
    with pytest.raises(NotFound):
        config_store.get("experiment", "checkout")
    entry = config_store.audit(kind="experiment", key="checkout")[0]
    assert (entry.action, entry.after, entry.reason) == ("delete", None, "typo")
    assert entry.before is not None and entry.before["key"] == "checkout"


def test_the_store_decides_nothing_archiving_is_an_audited_update(
    config_store: ConfigStore,
) -> None:
    # Archive-instead-of-delete is abwb.changes' rule (tests/contract/test_config_rules.py);
    # the store records what it is told, with the audit action it is given.
    config_store.create("experiment", experiment(), actor="ana")
    config_store.update("experiment", experiment(status="running"), expected_version=1, actor="ana")
    archived = config_store.update(
        "experiment", experiment(status="archived"), expected_version=2, actor="ana",
        action="archive",
    )
    assert (archived.status, archived.version) == ("archived", 3)
    assert config_store.audit(key="checkout")[0].action == "archive"
    assert [e.key for e in config_store.list("experiment", status="archived")] == ["checkout"]
    config_store.delete("experiment", "checkout", expected_version=3, actor="ana")
    with pytest.raises(NotFound):
        config_store.get("experiment", "checkout")


def test_list_filters_orders_and_pages(config_store: ConfigStore) -> None:
    for key in ("c", "a", "b", "d"):
        status = "running" if key in ("a", "d") else "draft"
        config_store.create("experiment", experiment(key, status=status), actor="ana")
    assert [e.key for e in config_store.list("experiment")] == ["a", "b", "c", "d"]
    assert [e.key for e in config_store.list("experiment", status="running")] == ["a", "d"]
    assert [e.key for e in config_store.list("experiment", limit=2, offset=1)] == ["b", "c"]
    assert config_store.list("segment") == []


def test_load_bundle_holds_every_kind_and_the_config_version(config_store: ConfigStore) -> None:
    config_store.create("layer", layer(), actor="ana")
    config_store.create("flag", flag(), actor="ana")
    config_store.create("metric", metric(), actor="ana")
    config_store.create("segment", segment(), actor="ana")
    config_store.create("experiment", experiment(), actor="ana")
    bundle = config_store.load_bundle()
    assert isinstance(bundle, ConfigBundle)
    assert bundle.version == 5 == config_store.config_version()
    assert [x.key for x in bundle.experiments] == ["checkout"]
    assert [x.key for x in bundle.flags] == ["new-checkout"]
    assert [x.key for x in bundle.layers] == ["checkout-layer"]
    assert [x.key for x in bundle.metrics] == ["purchase"]
    assert bundle.segments[0].condition == segment().condition
    # Documents round-trip exactly, payloads included.
    assert bundle.experiments[0] == msgspec.structs.replace(experiment(), version=1)


def test_audit_records_who_what_why_newest_first(config_store: ConfigStore) -> None:
    config_store.create("flag", flag(), actor="ana", reason="new flag")
    killed = msgspec.structs.replace(flag(), killed=True)
    config_store.update("flag", killed, expected_version=1, actor="oncall", reason="incident 42")
    entries = config_store.audit(kind="flag", key="new-checkout")
    assert [(e.actor, e.action, e.reason) for e in entries] == [
        ("oncall", "update", "incident 42"),
        ("ana", "create", "new flag"),
    ]
    assert entries[0].before is not None and entries[0].before["killed"] is False
    assert entries[0].after is not None and entries[0].after["killed"] is True
    assert entries[0].config_version == 2
    assert entries[0].at.tzinfo is not None
    assert len(config_store.audit(limit=1)) == 1


@pytest.mark.parametrize(
    ("call", "path"),
    [
        (lambda s: s.create("experiment", segment(), actor="ana"), "experiment"),
        (lambda s: s.create("widget", segment(), actor="ana"), "kind"),
        (lambda s: s.create("segment", segment(), actor=" "), "actor"),
        (lambda s: s.list("segment", limit=0), "limit"),
        (lambda s: s.list("segment", offset=-1), "offset"),
        (lambda s: s.audit(limit=10_000), "limit"),
    ],
)
def test_bad_arguments_name_the_field(config_store: ConfigStore, call: object, path: str) -> None:
    with pytest.raises(InvalidInput) as info:
        call(config_store)  # type: ignore[operator]
    assert info.value.problems[0].path == path
    assert config_store.config_version() == 0
