"""Versioned SQL migrations shipped in the package, and the schema-version rules.

What belongs here: finding and ordering the migration files of a dialect
(``abwb/store/migrations/{sqlite,postgres}/NNNN_name.sql``) and deciding whether a
database's schema version is usable by this build. Applying them is the job of each
adapter (:mod:`abwb.store.sqlite`, :mod:`abwb.store.postgres`), inside a transaction
that also records the version in ``schema_version``, so applying twice is a no-op.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

from abwb.assignment.sql import POSTGRES_BUCKET_FUNCTION
from abwb.errors import StorageError

__all__ = [
    "LATEST_SCHEMA_VERSION",
    "Dialect",
    "Migration",
    "check_schema_version",
    "migrations",
]

Dialect = Literal["sqlite", "postgres"]
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
#: Placeholder in PostgreSQL migrations replaced by the ``abwb_bucket`` function.
_BUCKET_PLACEHOLDER = "-- {ABWB_BUCKET_FUNCTION}"


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file.

    Args:
        version: Its number (``0001`` → 1); the schema version once applied.
        name: The rest of the file name (``initial``).
        sql: The statements to run.
    """

    version: int
    name: str
    sql: str


@cache
def migrations(dialect: Dialect) -> tuple[Migration, ...]:
    """Every migration of ``dialect`` in version order.

    Examples:
        >>> [m.version for m in migrations("sqlite")][:1]
        [1]
    """
    folder = resources.files("abwb.store").joinpath("migrations", dialect)
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match is None:
            continue
        sql = entry.read_text(encoding="utf-8")
        if dialect == "postgres":
            sql = sql.replace(_BUCKET_PLACEHOLDER, POSTGRES_BUCKET_FUNCTION.strip() + ";")
        found.append(Migration(int(match.group(1)), match.group(2), sql))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise StorageError(f"{dialect} migrations must be numbered 1..n, found {versions}")
    return tuple(found)


#: The newest schema this build knows (both dialects move together).
LATEST_SCHEMA_VERSION = len(migrations("sqlite"))


def check_schema_version(found: int, *, where: str) -> None:
    """Refuse a database whose schema is newer than this build knows.

    Args:
        found: The database's schema version.
        where: The database, for the message (a path or a redacted URL).

    Raises:
        StorageError: the schema is newer than :data:`LATEST_SCHEMA_VERSION`.

    Examples:
        >>> check_schema_version(1, where="db")
        >>> check_schema_version(99, where="db")
        Traceback (most recent call last):
        ...
        abwb.errors.StorageError: database db has schema version 99, newer than the ...
    """
    if found > LATEST_SCHEMA_VERSION:
        raise StorageError(
            f"database {where} has schema version {found}, newer than the newest this "
            f"abwb knows ({LATEST_SCHEMA_VERSION}); upgrade abwb before using this database"
        )
