"""In-process stores: ``MemoryConfigStore`` and ``MemoryEventStore``.

What belongs here: implementations of the :mod:`abwb.store.protocol` ports that keep
everything in process memory, for fast API and unit tests and for throwaway demos.
They honour the same contract as the SQL stores (versions, audit, global config
version, serialised and atomic :meth:`MemoryConfigStore.change`, idempotent appends);
nothing survives the process.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

import msgspec
import polars as pl

from abwb.config.bundle import ConfigBundle
from abwb.events.frames import events_frame, exposures_frame
from abwb.events.models import AppendResult, Event, Exposure
from abwb.store import documents as docs
from abwb.store.protocol import KIND_MODELS, KIND_SECTIONS, AuditAction, AuditEntry, Kind

__all__ = ["MemoryConfigStore", "MemoryEventStore"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _check_kind(kind: str) -> None:
    docs.check_kind(kind)


class MemoryConfigStore:
    """Config objects, audit log and global version in process memory (thread-safe).

    Args:
        bundle: Objects to start with (stored as version 1, audited as ``seed``).
        clock: Source of ``now`` for audit timestamps.

    Examples:
        >>> from abwb.config import Segment
        >>> store = MemoryConfigStore()
        >>> store.create("segment", Segment(key="staff", condition={}), actor="me").version
        1
        >>> store.config_version()
        1
    """

    def __init__(
        self,
        bundle: ConfigBundle | None = None,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._objects: dict[str, dict[str, Any]] = {kind: {} for kind in KIND_MODELS}
        self._audit: list[AuditEntry] = []
        self._version = 0
        if bundle is not None:
            for kind, section in KIND_SECTIONS.items():
                for obj in getattr(bundle, section):
                    self.create(kind, obj, actor="seed")  # type: ignore[arg-type]

    def load_bundle(self) -> ConfigBundle:
        """Every object as one bundle; ``version`` is the global config version."""
        with self._lock:
            sections = {
                KIND_SECTIONS[kind]: [objs[k] for k in sorted(objs)]
                for kind, objs in self._objects.items()
            }
            return ConfigBundle(**sections, version=self._version)

    def config_version(self) -> int:
        """The global config version (bumped by every write)."""
        with self._lock:
            return self._version

    @contextmanager
    def change(self, what: str) -> Iterator[MemoryConfigStore]:
        """One serialised, atomic change: other writers wait; an exception undoes it all.

        Args:
            what: What the change does (unused here; the SQL stores name it in errors).
        """
        with self._lock:
            objects = {kind: dict(objs) for kind, objs in self._objects.items()}
            audit_len, version = len(self._audit), self._version
            try:
                yield self
            except BaseException:
                self._objects, self._version = objects, version
                del self._audit[audit_len:]
                raise

    def get(self, kind: Kind, key: str) -> Any:
        """The object ``key`` of ``kind``.

        Raises:
            NotFound: no such object.
        """
        _check_kind(kind)
        with self._lock:
            try:
                return self._objects[kind][key]
            except KeyError:
                raise docs.not_found(kind, key) from None

    def list(
        self, kind: Kind, *, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Any]:
        """Objects of ``kind`` ordered by key, optionally filtered by ``status``."""
        _check_kind(kind)
        docs.check_page(limit, offset)
        with self._lock:
            objs = [self._objects[kind][k] for k in sorted(self._objects[kind])]
        if status is not None:
            objs = [o for o in objs if getattr(o, "status", None) == status]
        return objs[offset : offset + limit]

    def create(self, kind: Kind, obj: Any, *, actor: str, reason: str = "") -> Any:
        """Store a new object as version 1.

        Raises:
            Conflict: an object of ``kind`` with that key exists.
        """
        docs.check_object(kind, obj)
        docs.check_actor(actor)
        with self._lock:
            if obj.key in self._objects[kind]:
                raise docs.already_exists(kind, obj.key)
            stored = msgspec.structs.replace(obj, version=1)
            self._write(kind, "create", None, stored, actor, reason)
            return stored

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
        """Replace an object, bumping its version (``action`` is what the audit records).

        Raises:
            NotFound: no such object.
            VersionConflict: the stored version is not ``expected_version``.
        """
        docs.check_object(kind, obj)
        docs.check_actor(actor)
        with self._lock:
            before = self.get(kind, obj.key)
            if before.version != expected_version:
                raise docs.stale_version(kind, obj.key, expected_version, before.version)
            stored = msgspec.structs.replace(obj, version=before.version + 1)
            self._write(kind, action, before, stored, actor, reason)
            return stored

    def delete(
        self, kind: Kind, key: str, *, expected_version: int, actor: str, reason: str = ""
    ) -> None:
        """Delete an object (whether to archive instead is :mod:`abwb.changes`' rule).

        Raises:
            NotFound: no such object.
            VersionConflict: the stored version is not ``expected_version``.
        """
        docs.check_actor(actor)
        with self._lock:
            before = self.get(kind, key)
            if before.version != expected_version:
                raise docs.stale_version(kind, key, expected_version, before.version)
            self._write(kind, "delete", before, None, actor, reason)

    def audit(
        self, *, kind: Kind | None = None, key: str | None = None, limit: int = 100
    ) -> builtins.list[AuditEntry]:
        """Recorded changes, newest first."""
        if kind is not None:
            _check_kind(kind)
        docs.check_page(limit)
        with self._lock:
            found = [
                e
                for e in reversed(self._audit)
                if (kind is None or e.kind == kind) and (key is None or e.key == key)
            ]
        return found[:limit]

    def close(self) -> None:
        """Nothing to release."""

    def _write(
        self, kind: str, action: str, before: Any, after: Any, actor: str, reason: str
    ) -> None:
        key = (after or before).key
        if after is None:
            del self._objects[kind][key]
        else:
            self._objects[kind][key] = after
        self._version += 1
        self._audit.append(
            AuditEntry(
                actor=actor,
                action=action,
                kind=kind,
                key=key,
                before=None if before is None else msgspec.to_builtins(before),
                after=None if after is None else msgspec.to_builtins(after),
                at=self._clock(),
                reason=reason,
                config_version=self._version,
            )
        )


class MemoryEventStore:
    """Exposures and events in process memory, de-duplicated on their ids (thread-safe).

    Examples:
        >>> from datetime import UTC, datetime
        >>> from abwb.events import Event
        >>> store = MemoryEventStore()
        >>> e = Event(event_id="e1", unit_type="user", unit_id="u", name="buy",
        ...           occurred_at=datetime(2026, 1, 1, tzinfo=UTC))
        >>> store.append_events([e, e])
        AppendResult(accepted=1, duplicates=1)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._exposures: _RowsById[Exposure] = _RowsById(attrgetter("exposure_id"))
        self._events: _RowsById[Event] = _RowsById(attrgetter("event_id"))

    def append_exposures(self, rows: Sequence[Exposure]) -> AppendResult:
        """Store exposures, skipping ids already stored or repeated in the batch."""
        docs.check_rows(rows, Exposure)
        with self._lock:
            return self._exposures.add(rows)

    def append_events(self, rows: Sequence[Event]) -> AppendResult:
        """Store events, skipping ids already stored or repeated in the batch."""
        docs.check_rows(rows, Event)
        with self._lock:
            return self._events.add(rows)

    def read_exposures(
        self,
        *,
        experiment: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pl.DataFrame:
        """Exposures with ``since <= exposed_at < until`` (``EXPOSURE_SCHEMA``), by time."""
        docs.check_time_range(since, until)
        with self._lock:
            rows = self._exposures.rows()
        rows = [
            r
            for r in rows
            if (experiment is None or r.experiment == experiment)
            and (since is None or r.exposed_at >= since)
            and (until is None or r.exposed_at < until)
        ]
        return exposures_frame(rows).sort("exposed_at", "exposure_id")

    def read_events(
        self,
        *,
        names: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pl.DataFrame:
        """Events with ``since <= occurred_at < until`` (``EVENT_SCHEMA``), by time."""
        checked = docs.check_names(names)
        docs.check_time_range(since, until)
        with self._lock:
            rows = self._events.rows()
        wanted = None if checked is None else set(checked)
        rows = [
            r
            for r in rows
            if (wanted is None or r.name in wanted)
            and (since is None or r.occurred_at >= since)
            and (until is None or r.occurred_at < until)
        ]
        return events_frame(rows).sort("occurred_at", "event_id")

    def close(self) -> None:
        """Nothing to release."""


class _RowsById[Row]:
    """Rows by their id, the first of each id kept, indexed so one unit's rows sit together.

    An id with a ``/`` is filed under its **group**, what follows its first ``/``: for an
    exposure id (``experiment/pN/unit_type/unit_id``) the phase and the unit, so the
    rows of one unit served together share a small dict (a group of one row holds the
    row itself). Other ids (an event's, usually) sit in flat dicts by id hash. A group
    is filed under its hash (an int takes less memory than the text; groups whose
    hashes collide share a dict, which compares whole ids, so only its size changes).
    The group depends on the id alone, so a repeated id always meets its first copy.

    Why two levels: a flat index's lookups land at random in tables spread over
    hundreds of MB, each a cache (and TLB) miss, so the cost of a row grew with the
    rows held (in a tight loop 0.37 µs a row into an empty store, 1.0 µs at a million
    rows, 1.8 µs at six million); filed by unit, a request's 20 rows cost one such
    lookup (0.33 µs a row at a million, 0.43 at six million). Under ``abwb serve
    --config`` at concurrency 16 the flat index took 22 % of the GIL's time (py-spy
    ``--gil``); filed by unit, CPU per request fell from 155-157 to 128-130 µs and p99
    from 4.6 to 2.7 ms (old and new servers alternating, docs/api.md).

    Why :data:`_SHARDS` dicts at each level: one dict holding everything pauses the
    process when it grows (all its entries re-inserted in one C call that holds the
    GIL): measured at concurrency 64, 31 ms at ~700,000 exposures, 62 ms at 1.4
    million, 136 ms at 2.8 million, which put the pass's p99 at 91 ms instead of
    ~12 ms. Split by hash, each dict holds 1/256 of the entries and grows alone.

    Memory (tracemalloc, the index alone): 27 B a row when a unit has 20 rows, 83 B
    for a unit's only row (a flat index: 33 B). Rows are never dicts (a group's dict is
    told from its single row by type).
    """

    def __init__(self, id_of: Callable[[Row], str]) -> None:
        self._id_of = id_of
        self._loose: list[dict[str, Row]] = [{} for _ in range(_SHARDS)]
        self._groups: list[dict[int, Row | dict[str, Row]]] = [{} for _ in range(_SHARDS)]

    def add(self, rows: Sequence[Row]) -> AppendResult:
        """Keep the rows whose id is new (and the first of ids repeated in ``rows``)."""
        id_of, mask = self._id_of, _SHARDS - 1
        accepted = 0
        group: str | None = None
        shard: dict[int, Row | dict[str, Row]] = {}
        filed = 0  # the current group's hash: its key in the shard
        table: dict[str, Row] | None = None  # the current group's dict, once it has one
        for row in rows:
            key = id_of(row)
            cut = key.find("/") + 1
            if not cut:
                target = self._loose[hash(key) & mask]
            else:
                if group is None or len(key) - cut != len(group) or not key.endswith(group):
                    group = key[cut:]  # not the previous row's group
                    filed = hash(group)
                    shard = self._groups[filed & mask]
                    table = None
                if table is None:
                    held = shard.get(filed)
                    if held is None:  # a new group: it holds the row itself
                        shard[filed] = row
                        accepted += 1
                        continue
                    if type(held) is dict:
                        table = held
                    else:  # its second row: the group becomes a dict
                        table = shard[filed] = {id_of(held): held}  # type: ignore[arg-type, dict-item]
                target = table
            if key not in target:
                target[key] = row
                accepted += 1
        return AppendResult(accepted=accepted, duplicates=len(rows) - accepted)

    def rows(self) -> list[Row]:
        """Every row kept (in no particular order)."""
        out = [row for table in self._loose for row in table.values()]
        for shard in self._groups:
            for held in shard.values():
                if type(held) is dict:
                    out.extend(held.values())
                else:
                    out.append(held)  # type: ignore[arg-type]
        return out


#: Dicts each level of a :class:`_RowsById` splits its entries over (a power of two: the
#: hash is masked).
_SHARDS = 256
