"""Exposures offered while PostgreSQL is down are all stored after recovery.

The outage is a TCP proxy this test owns in front of the shared server (cut: every
connection dropped, new ones refused), so the server itself is never touched.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from litestar.testing import TestClient

from abwb.config import ConfigBundle
from abwb.settings import ApiSettings, ExposureSettings, Settings
from abwb.store import PostgresDatabase, PostgresEventStore
from abwb.store.memory import MemoryConfigStore
from api import create_app

from ..tcp_proxy import TcpProxy
from ..waiting import wait_for
from .conftest import TEST_HOST

pytestmark = [pytest.mark.integration, pytest.mark.slow]
NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def proxied(pg_url: str) -> Iterator[tuple[str, str, TcpProxy]]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    proxy, url = TcpProxy.in_front_of(pg_url)
    yield url, schema, proxy
    proxy.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_exposures_offered_during_a_postgres_outage_are_all_stored(
    proxied: tuple[str, str, TcpProxy], tmp_path: Path, pg_url: str
) -> None:
    url, schema, proxy = proxied
    db = PostgresDatabase(url, schema=schema, timeout_s=1.0, connect_timeout_s=1)
    events = PostgresEventStore(db, owns=True)
    bundle = ConfigBundle.from_data(
        {
            "experiments": [
                {
                    "key": "exp",
                    "status": "running",
                    "variants": [
                        {"key": "control", "weight": 0.5, "is_control": True},
                        {"key": "b", "weight": 0.5},
                    ],
                }
            ]
        }
    )
    exposures = ExposureSettings(
        flush_interval_s=0.02, retries=2, retry_backoff_s=0.01, spool_retry_s=0.2,
        spool_dir=tmp_path / "spool",
    )
    app = create_app(
        Settings(),
        config_store=MemoryConfigStore(bundle),
        event_store=events,
        options=ApiSettings(allowed_hosts=(TEST_HOST,), snapshot_poll_s=0, exposures=exposures),
        clock=lambda: NOW,
    )

    def stored() -> set[str]:
        with psycopg.connect(pg_url, autocommit=True) as conn:  # not through the proxy
            rows = conn.execute(f'SELECT exposure_id FROM "{schema}".exposures').fetchall()
        ids = [r[0] for r in rows]
        assert len(ids) == len(set(ids)), "one row per distinct exposure id"
        return set(ids)

    with TestClient(app, raise_server_exceptions=False) as client:
        services: Any = client.app.state.services
        client.post("/v1/assign", json={"unit_id": "before"})
        wait_for(lambda: stored() == {"exp/p1/user/before"}, 60.0)
        proxy.cut()
        acked: set[str] = set()
        slowest = 0.0
        for i in range(300):
            started = time.monotonic()
            r = client.post("/v1/assign", json={"unit_id": f"u{i}"})
            slowest = max(slowest, time.monotonic() - started)
            assert r.status_code == 200, r.text
            acked.add(f"exp/p1/user/u{i}")
        wait_for(lambda: services.exposures.counts["spooled"] >= 300, 60.0)
        print(f"\n300 assignments during the outage, slowest {slowest * 1000:.1f} ms; "
              f"spooled {services.exposures.counts['spooled']}")
        assert stored() == {"exp/p1/user/before"}  # nothing reached PostgreSQL yet
        proxy.restore()
        wait_for(lambda: acked <= stored(), 60.0)
        assert stored() == acked | {"exp/p1/user/before"}
        counts = services.exposures.counts
        assert counts["dropped_store_error"] == counts["dropped_spool_full"] == 0
        print(f"delivered from the spool after recovery: {counts['delivered_from_spool']}")
