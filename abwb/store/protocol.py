"""The store ports: ``ConfigStore`` (config objects + audit) and ``EventStore``.

What belongs here: the ``Protocol`` s every store implements, the ``Kind`` of config
object and its model class, and :class:`AuditEntry`. Implementations:
:mod:`abwb.store.memory` (tests, demos), :mod:`abwb.store.config_objects` (the SQL
config store, on SQLite or PostgreSQL) and the event adapters. Every write is one
transaction together with its audit row and the bump of the global
``config_version``; :meth:`ConfigStore.change` groups reads and writes in one
serialised transaction, so a check made against the config still holds when the write
commits. Failures raise :class:`~abwb.errors.StorageError` wrapping the driver error.

Stores keep data; they decide nothing. Which experiments are archived rather than
deleted, and which status changes are legal, is decided in :mod:`abwb.changes`.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

import msgspec
import polars as pl

from abwb.config.bundle import ConfigBundle
from abwb.config.kinds import KINDS, Kind
from abwb.events.models import AppendResult, Event, Exposure

__all__ = [
    "KIND_MODELS",
    "KIND_SECTIONS",
    "AuditAction",
    "AuditEntry",
    "ConfigStore",
    "ConfigTransaction",
    "EventStore",
    "Kind",
]

AuditAction = Literal["create", "update", "delete", "archive"]

#: Model class of each kind (from the kinds table, :mod:`abwb.config.kinds`).
KIND_MODELS: dict[str, type[msgspec.Struct]] = {k.name: k.model for k in KINDS}
#: :class:`~abwb.config.ConfigBundle` section of each kind.
KIND_SECTIONS: dict[str, str] = {k.name: k.section for k in KINDS}


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One recorded change of a config object.

    Args:
        actor: Who made the change.
        action: ``create``, ``update``, ``delete`` or ``archive``.
        kind: Kind of object.
        key: Its key.
        before: The object's document before the change (``None`` on create).
        after: The document after the change (``None`` on delete).
        at: When (UTC).
        reason: Why, as given by the actor.
        config_version: The global config version the change produced.
    """

    actor: str
    action: str
    kind: str
    key: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    at: datetime
    reason: str = ""
    config_version: int = 0


class ConfigTransaction(Protocol):
    """Reads and writes inside one serialised config transaction (see :meth:`ConfigStore.change`).

    Everything read here stays true until the transaction commits: no other config
    write can run in between. Writes become visible together, at commit; an exception
    leaving the block rolls every one of them back.
    """

    def load_bundle(self) -> ConfigBundle:
        """Every object, as one bundle; ``version`` is the config version."""
        ...

    def get(self, kind: Kind, key: str) -> Any:
        """The object ``key`` of ``kind``; raises ``NotFound``."""
        ...

    def audit(
        self, *, kind: Kind | None = None, key: str | None = None, limit: int = 100
    ) -> builtins.list[AuditEntry]:
        """Recorded changes, newest first."""
        ...

    def create(self, kind: Kind, obj: Any, *, actor: str, reason: str = "") -> Any:
        """Store a new object; returns it with ``version=1``; ``Conflict`` if the key exists."""
        ...

    def update(
        self,
        kind: Kind,
        obj: Any,
        *,
        expected_version: int,
        actor: str,
        reason: str = "",
        action: AuditAction = "update",
    ) -> Any:
        """Replace an object; ``VersionConflict`` if it changed since ``expected_version``.

        ``action`` is what the audit row records (``update``, or ``archive``).
        """
        ...

    def delete(
        self, kind: Kind, key: str, *, expected_version: int, actor: str, reason: str = ""
    ) -> None:
        """Delete an object; ``VersionConflict`` if it changed since ``expected_version``."""
        ...


@runtime_checkable
class ConfigStore(Protocol):
    """Config objects with optimistic concurrency, an audit log and a global version.

    ``create``, ``update`` and ``delete`` each run as their own :meth:`change`.
    """

    def change(self, what: str) -> AbstractContextManager[ConfigTransaction]:
        """One serialised transaction of config reads and writes.

        Args:
            what: What the change does, for error messages.

        Returns:
            A context manager yielding the :class:`ConfigTransaction`; it commits when
            the block ends normally and rolls back on any exception.

        Raises:
            StorageError: the database failed or its lock could not be taken in time.
        """
        ...

    def load_bundle(self) -> ConfigBundle:
        """Every object, as one consistent bundle; ``version`` is the config version."""
        ...

    def config_version(self) -> int:
        """The global config version: bumped by every write."""
        ...

    def get(self, kind: Kind, key: str) -> Any:
        """The object ``key`` of ``kind``; raises ``NotFound``."""
        ...

    def list(
        self, kind: Kind, *, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Any]:
        """Objects of ``kind`` ordered by key, optionally only those with ``status``."""
        ...

    def create(self, kind: Kind, obj: Any, *, actor: str, reason: str = "") -> Any:
        """Store a new object; returns it with ``version=1``; ``Conflict`` if the key exists."""
        ...

    def update(
        self,
        kind: Kind,
        obj: Any,
        *,
        expected_version: int,
        actor: str,
        reason: str = "",
        action: AuditAction = "update",
    ) -> Any:
        """Replace an object; ``VersionConflict`` if it changed since ``expected_version``."""
        ...

    def delete(
        self, kind: Kind, key: str, *, expected_version: int, actor: str, reason: str = ""
    ) -> None:
        """Delete an object (whether it should be archived instead is for the caller)."""
        ...

    def audit(
        self, *, kind: Kind | None = None, key: str | None = None, limit: int = 100
    ) -> builtins.list[AuditEntry]:
        """Recorded changes, newest first."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class EventStore(Protocol):
    """Idempotent, batched storage of exposures and events, read back as polars frames."""

    def append_exposures(self, rows: Sequence[Exposure]) -> AppendResult:
        """Store exposures (de-duplicated on ``exposure_id``); returns after commit."""
        ...

    def append_events(self, rows: Sequence[Event]) -> AppendResult:
        """Store events (de-duplicated on ``event_id``); returns after commit."""
        ...

    def read_exposures(
        self,
        *,
        experiment: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pl.DataFrame:
        """Exposures with ``since <= exposed_at < until`` (``EXPOSURE_SCHEMA``)."""
        ...

    def read_events(
        self,
        *,
        names: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pl.DataFrame:
        """Events with ``since <= occurred_at < until`` (``EVENT_SCHEMA``)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
