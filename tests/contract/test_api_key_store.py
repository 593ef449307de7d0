"""ApiKeyStore contract (the API's port): hashes only, scopes, revocation, validation."""

from __future__ import annotations

import pytest

from abwb.access.keys import MemoryApiKeyStore, hash_secret
from abwb.access.stores import SqlApiKeyStore
from abwb.errors import Conflict, InvalidInput

KeyStore = MemoryApiKeyStore | SqlApiKeyStore


def test_a_new_store_has_no_keys_and_is_not_configured(api_key_store: KeyStore) -> None:
    assert api_key_store.active() == []
    assert not api_key_store.configured()


def test_added_keys_are_stored_as_hashes_with_their_scopes(api_key_store: KeyStore) -> None:
    added = api_key_store.add("ci", "ci-secret-1", ["read", "assign"])
    api_key_store.add("ops", "ops-secret-1", ["admin"])
    assert added.key_hash == hash_secret("ci-secret-1")
    assert sorted((k.name, k.key_hash, k.scopes) for k in api_key_store.active()) == [
        ("ci", hash_secret("ci-secret-1"), frozenset({"read", "assign"})),
        ("ops", hash_secret("ops-secret-1"), frozenset({"admin"})),
    ]
    assert "ci-secret-1" not in repr(api_key_store.active())
    assert api_key_store.configured()


def test_revoking_removes_every_key_of_that_name_but_stays_configured(api_key_store: KeyStore) -> None:
    api_key_store.add("ci", "ci-secret-1", ["read"])
    api_key_store.add("ci", "ci-secret-2", ["read"])
    api_key_store.add("ops", "ops-secret-1", ["admin"])
    assert api_key_store.revoke("ci") == 2
    assert api_key_store.revoke("ci") == 0
    assert [k.name for k in api_key_store.active()] == ["ops"]
    assert api_key_store.revoke("ops") == 1
    assert api_key_store.active() == [] and api_key_store.configured()  # locked, not open


@pytest.mark.parametrize(("name", "secret", "scopes", "path"), [
    ("", "long-enough", ["read"], "name"),
    ("ci", "short", ["read"], "secret"),
    ("ci", "long-enough", ["write"], "scopes"),
    ("ci", "long-enough", [], "scopes"),
])
def test_bad_keys_are_refused_naming_the_field(
    api_key_store: KeyStore, name: str, secret: str, scopes: list[str], path: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        api_key_store.add(name, secret, scopes)
    assert info.value.problems[0].path == path
    assert not api_key_store.configured()
    with pytest.raises(InvalidInput):
        api_key_store.revoke("")


def test_a_stored_secret_cannot_be_added_twice(api_key_store: KeyStore) -> None:
    api_key_store.add("ci", "ci-secret-1", ["read"])
    api_key_store.revoke("ci")
    with pytest.raises(Conflict):
        api_key_store.add("again", "ci-secret-1", ["admin"])  # a revoked key stays revoked
    api_key_store.ensure("again", "ci-secret-1", ["admin"])
    assert api_key_store.active() == []
