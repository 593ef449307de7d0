"""The abwb exception tree: every error abwb raises on purpose lives here.

::

    AbwbError
    ├── InvalidInput (also ValueError)   bad config, rule, parameter, body, file
    ├── NotFound                          unknown experiment, flag, segment, ...
    ├── Conflict                          overlapping experiments, illegal status change,
    │   └── VersionConflict               stale optimistic-concurrency version
    ├── StorageError                      the config/event store failed (driver errors wrapped)
    └── CacheError                        the assignment cache failed (driver errors wrapped)

Messages name the field, the value received and what was expected. ``InvalidInput``
carries every problem found (``problems``), each with a path such as
``variants[2].weight``, so a caller can show them all at once.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AbwbError",
    "CacheError",
    "Conflict",
    "InvalidInput",
    "NotFound",
    "Problem",
    "StorageError",
    "VersionConflict",
]


@dataclass(frozen=True, slots=True)
class Problem:
    """One validation problem: where it is and what is wrong.

    Args:
        path: Location of the offending value, e.g. ``variants[2].weight``.
        message: What is wrong, naming the value received and what was expected.
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class AbwbError(Exception):
    """Root of every error abwb raises deliberately."""


class InvalidInput(AbwbError, ValueError):
    """Input failed validation; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem] | str, *, path: str = "") -> None:
        if isinstance(problems, str):
            problems = [Problem(path, problems)]
        self.problems: list[Problem] = problems
        super().__init__("; ".join(str(p) for p in problems))


class NotFound(AbwbError, LookupError):
    """A referenced object (experiment, flag, segment, ...) does not exist."""


class Conflict(AbwbError):
    """The request contradicts current state: overlap, illegal transition, ..."""

    def __init__(self, message: str, *, reasons: list[str] | None = None) -> None:
        self.reasons: list[str] = reasons or []
        super().__init__(message)


class VersionConflict(Conflict):
    """An optimistic-concurrency check failed: the object changed since it was read."""


class StorageError(AbwbError):
    """The config or event store failed; the driver error is chained as ``__cause__``."""


class CacheError(AbwbError):
    """The assignment cache failed; the driver error is chained as ``__cause__``."""
