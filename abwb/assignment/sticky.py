"""Assignment with sticky bucketing through an :class:`~abwb.cache.AssignmentCache`.

The engine is pure; this module does the I/O around it and writes down the failure
behaviour: when the cache fails, sticky lookups and writes are skipped, the
degradation is logged and counted, and the deterministic answer is served.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from abwb.assignment.decision import AssignmentResult
from abwb.assignment.engine import Assigner
from abwb.cache.protocol import AssignmentCache
from abwb.errors import CacheError

__all__ = ["StickyAssigner", "degradations"]

log = logging.getLogger(__name__)
#: Process-wide counters of degraded operations (exported as metrics by the API).
degradations: Counter[str] = Counter()


class StickyAssigner:
    """Runs the engine with sticky assignments loaded from and saved to a cache.

    Args:
        assigner: The compiled config snapshot.
        cache: Where sticky assignments live.
    """

    def __init__(self, assigner: Assigner, cache: AssignmentCache) -> None:
        self.assigner = assigner
        self.cache = cache
        self._any_sticky = any(ce.experiment.sticky for ce in assigner.experiments)

    async def assign(
        self,
        unit_id: str,
        *,
        now: datetime,
        attributes: Mapping[str, Any] | None = None,
        unit_type: str = "user",
        experiments: Iterable[str] | None = None,
    ) -> AssignmentResult:
        """Assign one unit, honouring stored sticky assignments (see :meth:`Assigner.assign`)."""
        stored: dict[str, str] = {}
        cache_ok = True
        if self._any_sticky:
            try:
                stored = await self.cache.get_sticky(unit_type, unit_id)
            except CacheError as exc:
                cache_ok = False
                degradations["sticky_lookup_skipped"] += 1
                log.warning("sticky lookup skipped, serving deterministic assignment: %s", exc)
        result = self.assigner.assign(
            unit_id,
            now=now,
            attributes=attributes,
            unit_type=unit_type,
            sticky=stored,
            experiments=experiments,
        )
        if result.sticky_writes and cache_ok:
            try:
                await self.cache.set_sticky(unit_type, unit_id, result.sticky_writes)
            except CacheError as exc:
                degradations["sticky_write_skipped"] += 1
                log.warning("sticky write skipped: %s", exc)
        return result
