"""docs/api.md's complete request bodies, sent in order to the app: each must succeed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from abwb.settings import ApiSettings, Settings
from abwb.store.memory import MemoryConfigStore, MemoryEventStore
from api import create_app

from .conftest import TEST_HOST

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
_BLOCK = re.compile(r"```http\n(.*?)```", re.S)


def requests_of(text: str) -> list[tuple[str, str, dict[str, str], Any]]:
    """``(method, path, headers, body)`` of every ```http block."""
    found = []
    for block in _BLOCK.findall(text):
        head, _, body = block.partition("\n\n")
        first, *header_lines = head.strip().splitlines()
        method, path = first.split()
        headers = dict(line.split(": ", 1) for line in header_lines)
        found.append((method, path, headers, json.loads(body) if body.strip() else None))
    return found


def test_the_documented_bodies_create_an_experiment_and_its_flag() -> None:
    app = create_app(Settings(), config_store=MemoryConfigStore(), event_store=MemoryEventStore(),
                     options=ApiSettings(allowed_hosts=(TEST_HOST,), snapshot_poll_s=0))
    with TestClient(app) as client:
        check(client)


def check(client: TestClient[Any]) -> None:
    """Send the blocks in order; the experiment runs and the flag serves it."""
    text = DOC.read_text()
    section = text[text.index("**Complete request bodies") : text.index("**Experiment lifecycle**")]
    sent = requests_of(section)
    kinds = {path for method, path, _, _ in sent if method == "POST"}
    assert {"/v1/experiments", "/v1/flags"} <= kinds
    for method, path, headers, body in sent:
        response = client.request(method, path, json=body, headers=headers)
        assert 200 <= response.status_code < 300, (method, path, response.text)
    experiment = client.get("/v1/experiments/checkout-redesign").json()
    assert experiment["status"] == "running"
    assert experiment["metrics"]["guardrails"] == ["latency"]
    rules = client.get("/v1/flags/new-checkout").json()["rules"]
    assert rules[-1]["experiment"] == "checkout-redesign"
    # the flag now serves the experiment's variant to a unit in it
    served = client.post("/v1/flags/evaluate", json={
        "unit_id": "user-42", "attributes": {"country": "US"}, "flags": ["new-checkout"]})
    assert served.status_code == 200, served.text
    assert served.json()["flags"]["new-checkout"]["reason"] != "error"
