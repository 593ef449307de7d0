"""Wait for a condition with a deadline instead of sleeping and hoping.

``wait_for(predicate, deadline_s)`` polls ``predicate`` until it returns something
truthy (which it returns) or the deadline passes (an ``AssertionError`` naming what was
awaited). Tests never assert on how long something took: the deadline is a generous
upper bound for a slow, shared machine, not a timing claim. Import it from a test module
with a relative import, e.g. ``from ..waiting import wait_for``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["wait_for"]


def wait_for[T](predicate: Callable[[], T], deadline_s: float = 10.0, *,
                interval_s: float = 0.01, what: str = "") -> T:
    """Poll ``predicate`` until it returns a truthy value, at most ``deadline_s`` seconds.

    Args:
        predicate: Called repeatedly; exceptions propagate.
        deadline_s: Give up after this many seconds.
        interval_s: Pause between polls.
        what: Description for the failure message.

    Returns:
        The first truthy value ``predicate`` returned.

    Raises:
        AssertionError: The deadline passed first.
    """
    deadline = time.monotonic() + deadline_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {deadline_s} s waiting for "
                                 f"{what or getattr(predicate, '__name__', 'a condition')}")
        time.sleep(interval_s)
