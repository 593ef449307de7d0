"""While Redis is down, a degradation warning is written once per interval, not per request."""

from __future__ import annotations

import logging
from typing import Any

from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from abwb.config import ConfigBundle
from abwb.settings import ApiSettings, Settings
from abwb.store.memory import MemoryConfigStore, MemoryEventStore
from api import create_app

from .conftest import NOW, TEST_HOST, workspace


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_one_warning_line_per_interval_while_redis_is_down() -> None:
    from abwb.cache.redis import RedisAssignmentCache

    data = workspace()
    data["experiments"][0]["sticky"] = True  # sticky lookups go to the (down) cache
    cache = RedisAssignmentCache("redis://127.0.0.1:1/0")
    app = create_app(
        Settings(),
        config_store=MemoryConfigStore(ConfigBundle.from_data(data)),
        event_store=MemoryEventStore(),
        cache=cache,
        options=ApiSettings(allowed_hosts=(TEST_HOST,), snapshot_poll_s=0, log_repeat_s=3600),
        clock=lambda: NOW,
    )
    names = ("abwb.assignment.sticky", "abwb.events.exposure_log", "abwb.cache.redis")
    caplog = Collect()
    for name in names:
        logging.getLogger(name).addHandler(caplog)
    with TestClient(app, raise_server_exceptions=False) as client:
        for i in range(200):
            assert client.post("/v1/assign", json={"unit_id": f"u{i}"}).status_code == 200
        sticky = [r for r in caplog.records if r.name == "abwb.assignment.sticky"]
        print(f"\n200 requests with Redis down: {len(caplog.records)} warning lines in all")
        assert len(sticky) == 1, [r.getMessage() for r in sticky]
        assert len(caplog.records) < 20
        # the counters still count every degraded request
        scraped = client.get("/metrics").text
        skipped = [
            s.value
            for f in text_string_to_metric_families(scraped)
            for s in f.samples
            if s.name == "abwb_degradations_total" and s.labels == {"kind": "sticky_lookup_skipped"}
        ]
        assert skipped and skipped[0] >= 200, scraped
        assert client.blocking_portal is not None
        client.blocking_portal.call(cache.close)
    for name in names:
        logging.getLogger(name).removeHandler(caplog)
    # the filter is removed with the app: other code logs as usual afterwards
    assert not logging.getLogger("abwb.assignment.sticky").filters


def test_the_filter_reports_how_many_were_suppressed() -> None:
    from abwb.serving.log_limit import RepeatedWarningFilter

    t = [0.0]
    limit = RepeatedWarningFilter(5, clock=lambda: t[0])
    kept: list[Any] = []
    for i in range(100):
        record = logging.LogRecord("x", logging.WARNING, "", 0, "redis down: %s", (i,), None)
        if limit.filter(record):
            kept.append(record.getMessage())
        t[0] += 0.1  # 100 records over 10 s: two windows
    assert len(kept) == 2
    assert "similar suppressed in the last 5 s" in kept[1]
