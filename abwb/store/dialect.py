"""What differs between SQLite and PostgreSQL for statements written once for both.

What belongs here: :class:`SqlDialect` (the parameter marker, how a JSON column is
written and read back as text, how a timestamp is stored), the two dialects, and the
:class:`SqlDatabase` protocol that :class:`~abwb.store.sqlite.SqliteDatabase` and
:class:`~abwb.store.postgres.PostgresDatabase` both satisfy. Small stores whose SQL is
the same on both databases up to these differences (alerts, API keys) are written
once against it, and so is the config store (:mod:`abwb.store.config_objects`), through
the hooks of :class:`SqlDatabase`: the workspace lock that serialises config writes, the
consistent read of a whole bundle, and the announcement of a new config version on
commit. What genuinely differs beyond that (``COPY`` vs ``executemany`` for events,
``LISTEN``) stays in the dialect's own adapter.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from abwb.store import documents as docs

__all__ = ["POSTGRES", "SQLITE", "SqlDatabase", "SqlDialect"]


@dataclass(frozen=True, slots=True)
class SqlDialect:
    """The small differences between the two SQL databases abwb stores data in.

    Statements are written with ``?`` markers and passed through :meth:`sql`.

    Args:
        name: ``sqlite`` or ``postgres``.
        mark: The driver's parameter marker (``?`` or ``%s``).
        json_param: Marker of a parameter written into a JSON column.
        json_suffix: Appended to a JSON column so it reads back as text.
        micros: Timestamps are stored as integer microseconds since the epoch (SQLite)
            rather than as ``timestamptz`` (PostgreSQL).
        row_lock: Appended to a ``SELECT`` that reads a row the transaction will
            change: ``FOR UPDATE`` on PostgreSQL; empty on SQLite, whose write
            transactions (``BEGIN IMMEDIATE``) already lock the whole file.

    Examples:
        >>> POSTGRES.sql("UPDATE t SET doc = " + POSTGRES.json_param + " WHERE id = ?")
        'UPDATE t SET doc = %s::jsonb WHERE id = %s'
        >>> SQLITE.timestamp(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC))
        1000000
    """

    name: Literal["sqlite", "postgres"]
    mark: str
    json_param: str
    json_suffix: str
    micros: bool
    row_lock: str = ""

    def sql(self, text: str) -> str:
        """``text`` (written with ``?`` markers) with this dialect's markers."""
        return text if self.mark == "?" else text.replace("?", self.mark)

    def json_text(self, column: str) -> str:
        """``column`` (a JSON column) selected as text."""
        return column + self.json_suffix

    def timestamp(self, at: datetime | None) -> Any:
        """``at`` as this dialect stores it (``None`` stays ``None``)."""
        if at is None or not self.micros:
            return at
        return docs.to_micros(at)

    def from_timestamp(self, value: Any) -> datetime:
        """A stored timestamp back as a UTC datetime."""
        if self.micros:
            return docs.from_micros(int(value))
        return value.astimezone(UTC)  # type: ignore[no-any-return]


SQLITE = SqlDialect(name="sqlite", mark="?", json_param="?", json_suffix="", micros=True)
POSTGRES = SqlDialect(
    name="postgres",
    mark="%s",
    json_param="?::jsonb",
    json_suffix="::text",
    micros=False,
    row_lock=" FOR UPDATE",
)


class SqlDatabase(Protocol):
    """An open abwb database that stores share (SQLite file or PostgreSQL pool)."""

    @property
    def dialect(self) -> SqlDialect:
        """Its SQL dialect."""
        ...

    def transaction(
        self, what: str, *, write: bool = True, consistent: bool = False
    ) -> AbstractContextManager[Any]:
        """A block run in one transaction; driver errors come out as ``StorageError``.

        Args:
            what: What the block does, for error messages.
            write: The block writes (SQLite takes its write lock at ``BEGIN``).
            consistent: Every statement of the block reads the same snapshot
                (PostgreSQL ``REPEATABLE READ``; an SQLite transaction always does).
        """
        ...

    def lock_config(self, conn: Any) -> None:
        """Take the workspace-level lock that serialises config writes, until commit.

        Validation against the bundle and the write happen under it, so two writers
        never both validate against a state the other is changing. PostgreSQL: a
        transaction-scoped advisory lock on the schema; SQLite: the write lock its
        ``BEGIN IMMEDIATE`` already holds.
        """
        ...

    def announce_config(self, conn: Any, version: int) -> None:
        """Tell listeners in other processes, on commit only, that ``version`` exists.

        PostgreSQL: ``pg_notify`` (delivered only if the transaction commits); SQLite:
        nothing (other processes poll the version).
        """
        ...

    def retain(self) -> None:
        """Register a store sharing this database."""
        ...

    def release(self) -> None:
        """A sharing store is done; the last one closes the database."""
        ...

