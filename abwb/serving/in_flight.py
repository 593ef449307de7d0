"""Back-pressure for the online path: a bound on assignment requests in flight.

What belongs here: counting the assignment requests being served right now, admitting a
new one only while fewer than the limit are in flight, and counting the ones shed.
Shedding early (the HTTP layer answers 503 + ``Retry-After``) keeps the latency of the
admitted requests bounded instead of letting a queue grow without end. No HTTP here:
the caller decides how a refusal is answered, and when a request counts as arrived —
the API counts it as it reaches the application, before any work, and yields to the
event loop once so that requests arriving together are counted together
(:mod:`api.hot_path` says why).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["InFlightLimit"]


@dataclass(slots=True)
class InFlightLimit:
    """Admit at most ``limit`` concurrent requests (``0``: unlimited).

    The counters are plain integers changed on the event loop's thread only, so no lock
    is needed: :meth:`try_enter` and :meth:`leave` never await.

    Args:
        limit: Most requests in flight at once (``0``: no limit).

    Examples:
        >>> gate = InFlightLimit(1)
        >>> gate.try_enter(), gate.try_enter()
        (True, False)
        >>> gate.leave(); gate.counters()["shed"]
        1
    """

    limit: int
    in_flight: int = 0
    admitted: int = 0
    shed: int = 0
    peak: int = field(default=0)
    #: Of ``shed``: refused because the exposure log could not keep up (:meth:`refuse`).
    shed_exposures: int = 0

    def __post_init__(self) -> None:
        if self.limit < 0:
            raise ValueError(f"limit must be >= 0, got {self.limit}")

    def try_enter(self) -> bool:
        """Admit one request if under the limit.

        Returns:
            ``True`` when admitted (call :meth:`leave` when done); ``False`` when shed.
        """
        if self.limit and self.in_flight >= self.limit:
            self.shed += 1
            return False
        self.in_flight += 1
        self.admitted += 1
        self.peak = max(self.peak, self.in_flight)
        return True

    def refuse(self) -> None:
        """Count a request shed because the exposure log is saturated (not admitted)."""
        self.shed += 1
        self.shed_exposures += 1

    def leave(self) -> None:
        """Mark one admitted request as finished."""
        self.in_flight -= 1

    def counters(self) -> dict[str, int]:
        """The counters, for ``/metrics`` (``shed`` counts both reasons)."""
        return {
            "limit": self.limit,
            "in_flight": self.in_flight,
            "peak": self.peak,
            "admitted": self.admitted,
            "shed": self.shed,
            "shed_exposures": self.shed_exposures,
        }
