"""Config fan-out over Redis pub/sub: a write in one process reaches another within 1 s."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from abwb.config import Segment
from abwb.snapshot import (
    ConfigSnapshotHolder,
    ConfigWatcher,
    PublishingConfigStore,
    RedisConfigPublisher,
)
from abwb.store import SqliteConfigStore

pytestmark = pytest.mark.integration


def _segment(key: str) -> Segment:
    return Segment(key=key, condition={"attr": "plan", "op": "eq", "value": "pro"})


def test_pubsub_wakes_other_processes_without_waiting_for_polling(
    redis_url: str, tmp_path: Path
) -> None:
    channel = f"abwbtest:config:{uuid.uuid4().hex[:8]}"
    writer = PublishingConfigStore(
        SqliteConfigStore(tmp_path / "abwb.db"), RedisConfigPublisher(redis_url, channel=channel)
    )
    holders = [ConfigSnapshotHolder() for _ in range(3)]
    readers = [SqliteConfigStore(tmp_path / "abwb.db") for _ in holders]
    # Polling every 60 s: only the pub/sub message can deliver within the test's 1 s.
    watchers = [
        ConfigWatcher(h, r, poll_s=60, redis_url=redis_url, channel=channel).start()
        for h, r in zip(holders, readers, strict=True)
    ]
    try:
        for holder in holders:
            assert holder.wait_for(0, timeout_s=2)
        time.sleep(0.3)  # let the subscriptions settle
        latencies = []
        for i in range(1, 6):
            started = time.monotonic()
            writer.create("segment", _segment(f"s{i}"), actor="ana")
            for holder in holders:
                assert holder.wait_for(i, timeout_s=1.0), f"version {i} not fanned out"
            latencies.append(time.monotonic() - started)
        assert max(latencies) < 1.0
        assert writer.publisher.counters["published"] == 5
        assert all(w.counters["redis_messages"] >= 5 for w in watchers)
    finally:
        for w in watchers:
            w.stop()
        for r in readers:
            r.close()
        writer.close()
