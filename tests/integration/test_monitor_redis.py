"""The Redis pub/sub alert sink against the real Redis, and its behaviour when Redis is unreachable."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import pytest
import redis

from abwb.monitoring.alerts import Evidence, Finding, reconcile
from abwb.monitoring.sinks import DEFAULT_CHANNEL, RedisPubSubSink, deliver

ALERT = reconcile([], [Finding("srm:exp", True, "srm", "critical", "SRM in exp",
                               Evidence(statistic=12.0, threshold=0.001, p_value=1e-7, n={"c": 5500, "t": 4500}),
                               experiment="exp")], now=datetime(2026, 6, 1, tzinfo=UTC)).opened[0]


@pytest.mark.integration
def test_alerts_are_published_on_the_channel(redis_url: str) -> None:
    channel = f"{DEFAULT_CHANNEL}:test-{uuid.uuid4().hex[:8]}"  # own channel: never disturbs real listeners
    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    pubsub.subscribe(channel)
    try:
        assert pubsub.get_message(timeout=2)["type"] == "subscribe"  # type: ignore[index]
        sink = RedisPubSubSink(redis_url, channel=channel)
        (result,) = deliver([ALERT], [sink])
        sink.close()
        assert result.ok
        deadline = time.monotonic() + 5
        message = None
        while message is None and time.monotonic() < deadline:
            message = pubsub.get_message(timeout=1, ignore_subscribe_messages=True)
        assert message is not None
        body = json.loads(message["data"])
        assert body["event"] == "alert.opened" and body["alert"]["dedup_key"] == "srm:exp"
        assert body["alert"]["evidence"]["n"] == {"c": 5500, "t": 4500}
    finally:
        pubsub.close()
        client.close()


def test_unreachable_redis_is_reported_not_raised() -> None:
    sink = RedisPubSubSink("redis://127.0.0.1:1/0", timeout_s=0.5)
    (result,) = deliver([ALERT], [sink])
    sink.close()
    assert not result.ok and result.sink == "redis" and "ConnectionError" in result.error
