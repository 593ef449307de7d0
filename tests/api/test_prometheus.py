"""``GET /metrics``: Prometheus text format, parsed with prometheus_client's own parser."""

from __future__ import annotations

from typing import Any

import prometheus_client
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from abwb.config import ConfigBundle
from abwb.settings import ApiSettings, Settings
from abwb.store.memory import MemoryConfigStore, MemoryEventStore
from api import create_app

from .conftest import FAST_EXPOSURES, NOW, TEST_HOST, workspace


def scrape(client: TestClient[Any]) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """``{sample name: {labels: value}}`` of one scrape (checks the content type)."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def app() -> Any:
    return create_app(
        Settings(),
        config_store=MemoryConfigStore(ConfigBundle.from_data(workspace())),
        event_store=MemoryEventStore(),
        options=ApiSettings(allowed_hosts=(TEST_HOST,), snapshot_poll_s=0,
                            exposures=FAST_EXPOSURES),
        clock=lambda: NOW,
    )


def test_families_types_and_counts_follow_the_traffic() -> None:
    with TestClient(app()) as client:
        types = {
            f.name: f.type
            for f in text_string_to_metric_families(client.get("/metrics").text)
        }
        assert types["abwb_exposures_offered"] == "counter"
        assert types["abwb_exposures_dropped"] == "counter"
        assert types["abwb_config_version"] == "gauge"
        assert types["abwb_exposures_queued"] == "gauge"
        before = scrape(client)
        assert before["abwb_exposures_offered_total"][()] == 0
        assert before["abwb_exposure_log_running"][()] == 1
        reasons = {dict(labels)["reason"] for labels in before["abwb_exposures_dropped_total"]}
        assert {"queue_full", "store_error", "shutdown", "invalid", "spool_full"} <= reasons
        for i in range(5):
            assert client.post("/v1/assign", json={"unit_id": f"u{i}"}).status_code == 200
        after = scrape(client)
        # two running experiments apply to a unit without a country (exp-us targets US)
        assert after["abwb_exposures_offered_total"][()] == 10
        health = client.get("/v1/health").json()
        assert after["abwb_config_version"][()] == health["config_version"]
        assert after["abwb_config_snapshot_age_seconds"][()] >= 0


def test_each_app_has_its_own_registry_and_the_default_one_is_untouched() -> None:
    default_before = {m.name for m in prometheus_client.REGISTRY.collect()}
    with TestClient(app()) as one, TestClient(app()) as two:
        assert one.post("/v1/assign", json={"unit_id": "u1"}).status_code == 200
        first, second = scrape(one), scrape(two)
    assert first["abwb_exposures_offered_total"][()] == 2
    assert second["abwb_exposures_offered_total"][()] == 0
    assert {m.name for m in prometheus_client.REGISTRY.collect()} == default_before
    assert not any(n.startswith("abwb") for n in default_before)
