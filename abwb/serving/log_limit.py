"""At most one log line per repeated warning and interval while a dependency is down.

What belongs here: :class:`RepeatedWarningFilter`, a :class:`logging.Filter` the
serving process installs (at start-up, never at import) on the loggers of its
degradation paths: while Redis or the database is down the same warning would
otherwise be written once per request (thousands of lines a second). The first
record of a kind passes; repeats within ``interval_s`` are counted, and the next one
that passes says how many were suppressed. Counters elsewhere still count every event.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

__all__ = ["RepeatedWarningFilter"]


class RepeatedWarningFilter(logging.Filter):
    """Lets one record per (logger, message template) through per ``interval_s``.

    Args:
        interval_s: Seconds between two records of the same kind.
        clock: Monotonic clock (injectable in tests).

    Examples:
        >>> t = [0.0]
        >>> f = RepeatedWarningFilter(10, clock=lambda: t[0])
        >>> rec = logging.LogRecord("x", logging.WARNING, "", 0, "down: %s", ("e",), None)
        >>> f.filter(rec), f.filter(rec)
        (True, False)
        >>> t[0] = 11
        >>> f.filter(rec), rec.getMessage()
        (True, 'down: e (1 similar suppressed in the last 10 s)')
    """

    def __init__(self, interval_s: float = 10.0, *, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.interval_s = interval_s
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}
        self._suppressed: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._installed: list[logging.Logger] = []

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether ``record`` is written (WARNING and above are limited; others pass).

        Args:
            record: The log record.

        Returns:
            ``False`` for a repeat within the interval.
        """
        if record.levelno < logging.WARNING:
            return True
        kind = (record.name, str(record.msg))
        now = self._clock()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.interval_s:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return False
            self._last[kind] = now
            skipped = self._suppressed.pop(kind, 0)
        if skipped:
            record.msg = (
                f"{record.msg} ({skipped} similar suppressed in the last {self.interval_s:g} s)"
            )
        return True

    def install(self, names: Iterable[str]) -> None:
        """Attach to the named loggers (undo with :meth:`uninstall`).

        Args:
            names: Logger names.
        """
        for name in names:
            logger = logging.getLogger(name)
            logger.addFilter(self)
            self._installed.append(logger)

    def uninstall(self) -> None:
        """Detach from every logger :meth:`install` attached to."""
        for logger in self._installed:
            logger.removeFilter(self)
        self._installed.clear()
