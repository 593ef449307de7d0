"""Shared validation vocabulary for config objects: key syntax and problem collection.

Everything here builds ``Problem`` lists; nothing raises except :func:`raise_if`,
which turns a non-empty list into one :class:`~abwb.errors.InvalidInput`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec

from abwb.errors import InvalidInput, Problem

__all__ = [
    "KEY_PATTERN",
    "MAX_PAYLOAD_BYTES",
    "ProblemList",
    "check_fraction",
    "check_key",
    "check_unique",
    "check_utc",
    "raise_if",
]

#: Keys are lowercase slugs: they appear in URLs, SQL literals, salts and file names.
KEY_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")  # used with fullmatch: no "\n" slips in
#: Variant payloads and flag values travel with every assignment response: keep them small.
MAX_PAYLOAD_BYTES = 16 * 1024


class ProblemList(list[Problem]):
    """A list of problems with a convenience ``add`` that prefixes a base path."""

    def add(self, path: str, message: str) -> None:
        """Record a problem at ``path``."""
        self.append(Problem(path, message))


def join(base: str, field: str) -> str:
    """Join a base path and a field name: ``join("variants[2]", "weight")``."""
    if not base:
        return field
    return f"{base}{field}" if field.startswith("[") else f"{base}.{field}"


def check_key(problems: ProblemList, path: str, value: str) -> None:
    """Check that ``value`` is a valid key (lowercase slug, 1-64 chars)."""
    if not KEY_PATTERN.fullmatch(value):
        problems.add(
            path,
            f"must be 1-64 chars of a-z, 0-9, '_', '.', '-' starting with a letter or digit, "
            f"got {value!r}",
        )


def check_fraction(problems: ProblemList, path: str, value: float) -> None:
    """Check that ``value`` is a finite number in [0, 1]."""
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        problems.add(path, f"must be a fraction in [0, 1], got {value!r}")


def check_unique(problems: ProblemList, path: str, keys: Iterable[str], what: str) -> None:
    """Report every key that appears more than once."""
    seen: set[str] = set()
    for i, key in enumerate(keys):
        if key in seen:
            problems.add(f"{path}[{i}].key", f"duplicate {what} key {key!r}")
        seen.add(key)


def check_utc(problems: ProblemList, path: str, value: datetime | None) -> None:
    """Timestamps must be timezone-aware (abwb stores and compares UTC)."""
    if value is not None and value.tzinfo is None:
        problems.add(path, f"must be timezone-aware (e.g. 2026-01-01T00:00:00Z), got {value!r}")


def check_payload(problems: ProblemList, path: str, value: Any) -> None:
    """Check a JSON payload is encodable and under the size bound."""
    try:
        size = len(msgspec.json.encode(value))
    except (TypeError, ValueError, OverflowError) as exc:
        problems.add(path, f"must be JSON-encodable: {exc}")
        return
    if size > MAX_PAYLOAD_BYTES:
        problems.add(path, f"must encode to at most {MAX_PAYLOAD_BYTES} bytes, got {size}")


def raise_if(problems: list[Problem]) -> None:
    """Raise :class:`InvalidInput` carrying every problem, if there are any."""
    if problems:
        raise InvalidInput(list(problems))
