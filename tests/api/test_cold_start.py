"""`abwb serve` starts from the last-known-good snapshot file while PostgreSQL is down.

The real entry point runs in its own process with ``ABWB_DATABASE_URL`` pointing at a
closed port; nothing is bypassed (``create_app`` opens the stores itself).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from abwb.config import ConfigBundle
from abwb.snapshot.snapshot_file import write_snapshot_file

from ..processes import ServeProcess, free_port
from .conftest import workspace

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServeProcess]:
    s = ServeProcess(tmp_path)
    yield s
    s.stop()


def test_cold_start_with_postgres_down_serves_the_snapshot_file(
    tmp_path: Path, server: ServeProcess
) -> None:
    bundle = ConfigBundle.from_data({**workspace(), "version": 7})
    write_snapshot_file(bundle, tmp_path / "snapshot.json")
    closed = free_port()  # nothing listens there: PostgreSQL is "down"
    server.start(
        {
            "ABWB_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{closed}/test",
            "ABWB_API_KEYS": "svc:svc-secret-1:assign,ops:ops-secret-1:admin",
            "ABWB_API_AUTH": "auto",
        }
    )
    url = server.url
    key = {"Authorization": "Bearer svc-secret-1"}
    r = httpx.post(url + "/v1/assign", json={"unit_id": "user-42"}, headers=key, timeout=5)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["config_version"] == 7
    assert {d["experiment"] for d in body["assignments"]} >= {"exp-a", "exp-checkout"}
    # keys in the unreachable database might exist: without one the API stays closed
    assert httpx.post(url + "/v1/assign", json={"unit_id": "u"}, timeout=5).status_code == 401
    ready = httpx.get(url + "/ready", timeout=5)
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "degraded" and ready.json()["degraded"] == ["store"]
    # a write fails fast with a 503 problem that names no connection details
    started = time.monotonic()
    w = httpx.post(
        url + "/v1/flags/new-checkout/kill",
        json={"reason": "incident"},
        headers={"Authorization": "Bearer ops-secret-1"},
        timeout=10,
    )
    print(f"write during the outage: {w.status_code} in {time.monotonic() - started:.3f} s")
    assert w.status_code == 503, w.text
    assert w.headers["content-type"].startswith("application/problem+json")
    health = httpx.get(url + "/v1/health", timeout=5)
    assert health.json()["config_version"] == 7
    for text in (w.text, health.text, ready.text):
        assert str(closed) not in text and "postgres@" not in text


def test_cold_start_without_a_snapshot_file_exits_with_the_cause(server: ServeProcess) -> None:
    closed = free_port()
    proc = server.launch({"ABWB_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{closed}/test"})
    proc.wait(60)
    assert proc.returncode != 0
    out = server.log()
    assert "StorageError" in out or "cannot" in out
