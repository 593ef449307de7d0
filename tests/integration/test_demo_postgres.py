"""``abwb demo`` on PostgreSQL + Redis in an isolated schema and key prefix, papermill readout included."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import redis

from abwb.demo import story
from abwb.demo.traffic import demo_population
from abwb.demo.workspace import open_workspace
from abwb.settings import AnalysisSettings, CacheSettings, DatabaseSettings, Settings

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


@pytest.mark.integration
def test_demo_story_on_postgres_and_redis(pg_url: str, redis_url: str, tmp_path: Path) -> None:
    schema = f"abwb_demo_test_{uuid.uuid4().hex[:8]}"
    settings = Settings(database=DatabaseSettings(url=pg_url, home=tmp_path),
                        cache=CacheSettings(redis_url=redis_url),
                        analysis=AnalysisSettings(reports_dir=tmp_path / "reports"))
    try:
        ws = open_workspace(settings, schema=schema)
        try:
            setup = story.persist_config(ws)
            assert f"schema {schema}" in setup.backend and "Redis" in setup.backend
            assert setup.audit_entries == setup.config_version
            assert "checkout-redesign" in story.refuse_conflict(ws).message
            population = demo_population(8_000)
            sample = story.assign_sample_users(ws, population, now=NOW)
            assert dict((u, d) for u, _, d in sample.sample)["qa-alice"]["checkout-redesign"][1] == "override"
            traffic = story.simulate_traffic(ws, population, now=NOW)
            assert traffic.exposures_stored == traffic.exposed > 500
            assert traffic.statistics.quality.audit.mismatches == 0
            flags = story.ramp_and_kill(ws, now=NOW)
            assert flags.killed_value == (False, "DISABLED")
            monitor = story.monitor_rollout(ws, now=NOW)
            assert monitor.rollout_status == "rolled_back" and monitor.alert is not None
            readout = story.run_readout_step(ws, as_of=(NOW - timedelta(days=1)).date())
            assert readout.html is not None and Path(readout.html).stat().st_size > 10_000
            results = json.loads(Path(readout.results).read_text())
            assert results["facts"]["key"] == "checkout-redesign" and results["results"]
        finally:
            ws.close()
        with psycopg.connect(pg_url) as conn:
            n = conn.execute(f'SELECT count(*) FROM "{schema}".exposures').fetchone()
            assert n is not None and n[0] == traffic.exposures_stored + monitor.exposures
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(f"abwb:{schema}:*"))
        if keys:
            client.delete(*keys)
        client.close()
