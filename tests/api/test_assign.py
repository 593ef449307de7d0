"""POST /v1/assign and /v1/assign/bulk: decisions, reasons, payloads, flags, exposures."""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from abwb.assignment.engine import Assigner
from abwb.config import ConfigBundle
from abwb.errors import InvalidInput
from abwb.serving import UnitRequest, UnitResult
from abwb.store.memory import MemoryConfigStore, MemoryEventStore
from abwb.targeting import make_compiler

from ..waiting import wait_for
from .conftest import NOW, assert_problem


def test_assign_returns_every_experiment_with_reason_and_payload(
    client: TestClient[Any], bundle: ConfigBundle
) -> None:
    r = client.post("/v1/assign", json={"unit_id": "user-1", "attributes": {"country": "DE"}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["unit_id"] == "user-1" and body["unit_type"] == "user"
    assert body["config_version"] == bundle.version or body["config_version"] > 0
    by_exp = {d["experiment"]: d for d in body["assignments"]}
    assert set(by_exp) == {e.key for e in bundle.experiments}
    assert by_exp["exp-us"]["reason"] == "targeting_miss"
    assert by_exp["exp-us"]["variant"] is None
    assert by_exp["exp-draft"]["reason"] == "not_running"
    a = by_exp["exp-a"]
    assert a["reason"] == "assigned"
    assert a["payload"] == {"v": a["variant"]}
    # identical to the pure engine
    engine = Assigner(bundle, compile_condition=make_compiler(bundle.segments))
    assert a["variant"] == engine.decide("exp-a", "user-1", now=NOW).variant


def test_assign_is_deterministic_and_targets(client: TestClient[Any]) -> None:
    bodies = [
        client.post("/v1/assign", json={"unit_id": "u-7", "attributes": {"country": "US"}}).json()
        for _ in range(3)
    ]
    assert bodies[0]["assignments"] == bodies[1]["assignments"] == bodies[2]["assignments"]
    us = next(d for d in bodies[0]["assignments"] if d["experiment"] == "exp-us")
    assert us["reason"] == "assigned"


def test_assign_limits_to_named_experiments(client: TestClient[Any]) -> None:
    r = client.post("/v1/assign", json={"unit_id": "u", "experiments": ["exp-a"]})
    assert [d["experiment"] for d in r.json()["assignments"]] == ["exp-a"]


def test_assign_unknown_experiment_is_422(client: TestClient[Any]) -> None:
    assert_problem(
        client.post("/v1/assign", json={"unit_id": "u", "experiments": ["nope"]}),
        422,
        path="experiments",
    )


def test_assign_evaluates_flags(client: TestClient[Any]) -> None:
    body = client.post("/v1/assign", json={"unit_id": "u-1"}).json()
    flag = body["flags"]["new-checkout"]
    assert flag["value"] in (True, False)
    assert flag["variation"] in ("on", "off")
    no_flags = client.post("/v1/assign", json={"unit_id": "u-1", "flags": False}).json()
    assert no_flags["flags"] == {}


def test_unit_type_mismatch_is_explained(client: TestClient[Any]) -> None:
    body = client.post("/v1/assign", json={"unit_id": "d-1", "unit_type": "device"}).json()
    assert {d["reason"] for d in body["assignments"]} == {"unit_type_mismatch"}


def test_exposures_logged_once_per_unit_and_experiment(
    client: TestClient[Any], event_store: MemoryEventStore
) -> None:
    for _ in range(5):
        client.post("/v1/assign", json={"unit_id": "u-9", "attributes": {"country": "US"}})
    client.post("/v1/assign", json={"unit_id": "u-10", "log_exposure": False})
    wait_for(lambda: len(event_store.read_exposures()) == 3)
    time.sleep(0.05)
    frame = event_store.read_exposures()
    assert sorted(frame["experiment"].to_list()) == ["exp-a", "exp-checkout", "exp-us"]
    assert set(frame["unit_id"]) == {"u-9"}
    assert frame["exposure_id"].to_list()[0].endswith("/user/u-9")
    health = client.get("/v1/health").json()["exposures"]
    assert health["written"] == 3
    assert health["duplicates"] >= 12


def test_bulk_assign_matches_single(client: TestClient[Any]) -> None:
    units = [{"unit_id": f"u-{i}", "attributes": {"country": "US"}} for i in range(50)]
    r = client.post("/v1/assign/bulk", json={"units": units, "log_exposure": False})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["unit_id"] for x in results] == [u["unit_id"] for u in units]
    single = client.post("/v1/assign", json={**units[7], "log_exposure": False}).json()
    assert results[7]["assignments"] == single["assignments"]


def test_bulk_assign_bounds(client: TestClient[Any]) -> None:
    too_many = [{"unit_id": f"u-{i}"} for i in range(1001)]
    assert_problem(client.post("/v1/assign/bulk", json={"units": too_many}), 422, path="units")
    assert_problem(client.post("/v1/assign/bulk", json={"units": []}), 422, path="units")


def test_sticky_assignment_survives_reweighting(client: TestClient[Any]) -> None:
    created = client.post(
        "/v1/experiments",
        json={
            "key": "sticky-exp",
            "sticky": True,
            "variants": [
                {"key": "control", "weight": 0.5, "is_control": True},
                {"key": "treatment", "weight": 0.5},
            ],
        },
    )
    assert created.status_code == 201, created.text
    started = client.post("/v1/experiments/sticky-exp/status", json={"action": "start"})
    assert started.status_code == 200, started.text
    first = {
        u: client.post("/v1/assign", json={"unit_id": u, "experiments": ["sticky-exp"]}).json()[
            "assignments"
        ][0]["variant"]
        for u in (f"s-{i}" for i in range(40))
    }
    etag = client.get("/v1/experiments/sticky-exp").headers["etag"]
    patched = client.patch(
        "/v1/experiments/sticky-exp",
        json={
            "variants": [
                {"key": "control", "weight": 0.1, "is_control": True},
                {"key": "treatment", "weight": 0.9},
            ]
        },
        headers={"If-Match": etag},
    )
    assert patched.status_code == 200, patched.text
    for unit, variant in first.items():
        d = client.post("/v1/assign", json={"unit_id": unit, "experiments": ["sticky-exp"]}).json()[
            "assignments"
        ][0]
        assert d["variant"] == variant
        assert d["reason"] == "sticky"


def _units(n: int) -> list[UnitRequest]:
    return [UnitRequest(f"u-{i}", "user", {"country": "US" if i % 3 else "DE"}) for i in range(n)]


@pytest.mark.parametrize("chunk_units", [1, 7, 25, 1000])
def test_bulk_results_are_identical_whatever_the_chunk_size(
    client: TestClient[Any], chunk_units: int
) -> None:
    services = client.app.state.services
    units = _units(240)
    portal = client.blocking_portal
    assert portal is not None
    version, chunked = portal.call(
        functools.partial(
            services.serving.assign_many, units, log_exposure=False, chunk_units=chunk_units
        )
    )
    # the unchunked decision: the pure engine and the flag evaluator, unit by unit
    snapshot = services.snapshot.current
    assert version == snapshot.version
    for unit, got in zip(units, chunked, strict=True):
        expected = snapshot.assigner.assign(
            unit.unit_id, now=NOW, attributes=unit.attributes, unit_type=unit.unit_type
        )
        flags = snapshot.flags.evaluate_all(unit.unit_id, unit.attributes, NOW)
        assert (got.unit_id, got.config_version) == (unit.unit_id, version)
        assert got.decisions == expected.decisions
        assert got.flags == flags


def test_bulk_lets_the_loop_run_between_chunks_and_keeps_one_snapshot(
    client: TestClient[Any], config_store: MemoryConfigStore
) -> None:
    services = client.app.state.services
    units = _units(1000)
    before = services.snapshot.current.version
    turns: list[int] = []

    def pause_exp_a() -> None:
        exp = config_store.get("experiment", "exp-a")
        config_store.update(
            "experiment",
            msgspec.structs.replace(exp, status="paused"),
            expected_version=exp.version,
            actor="test",
        )
        assert services.snapshot.refresh()

    async def bulk_with_a_neighbour() -> tuple[int, list[UnitResult]]:
        async def neighbour() -> None:
            # a single request's turn: the first one changes the config mid-bulk
            while True:
                if not turns:
                    pause_exp_a()
                turns.append(1)
                await asyncio.sleep(0)

        task = asyncio.create_task(neighbour())
        try:
            return await services.serving.assign_many(units, log_exposure=False, chunk_units=25)
        finally:
            task.cancel()

    portal = client.blocking_portal
    assert portal is not None
    version, results = portal.call(bulk_with_a_neighbour)
    # the neighbour ran between every two chunks (1,000 units in 40 chunks)
    assert len(turns) >= 39
    # every unit was decided from the snapshot current when the call began
    assert services.snapshot.current.version > before == version
    assert {r.config_version for r in results} == {before}
    exp_a = [d for r in results for d in r.decisions if d.experiment == "exp-a"]
    assert len(exp_a) == 1000 and {d.reason for d in exp_a} == {"assigned"}
    after = client.post("/v1/assign", json={"unit_id": "u-1", "experiments": ["exp-a"]}).json()
    assert after["assignments"][0]["reason"] != "assigned"


def test_bulk_chunk_size_is_checked(client: TestClient[Any]) -> None:
    serving = client.app.state.services.serving
    portal = client.blocking_portal
    assert portal is not None
    with pytest.raises(InvalidInput, match="chunk_units"):
        portal.call(functools.partial(serving.assign_many, _units(3), chunk_units=0))


_REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("/v1/assign", {"json": {"unit_id": "u-1", "attributes": {"country": "US"}}}),
    ("/v1/assign", {"json": {"unit_id": "u-2", "experiments": ["exp-a"], "flags": False}}),
    ("/v1/assign/bulk", {"json": {"units": [{"unit_id": f"u-{i}"} for i in range(60)]}}),
    ("/v1/assign", {"json": {"unit_id": "u", "experiments": ["nope"]}}),  # 422 from serving
    ("/v1/assign", {"json": {"unit_id": "u", "flags": 0}}),  # 422: strict types
    ("/v1/assign", {"json": {"unitid": "u"}}),  # 422: unknown field
    ("/v1/assign", {"content": b"{not json", "headers": {"Content-Type": "application/json"}}),
    ("/v1/assign", {"content": b'{"unit_id": "u"}', "headers": {"Content-Type": "text/plain"}}),
    ("/v1/assign", {"json": {"unit_id": "a\x00b"}}),  # 422: NUL in a unit id
]


@pytest.mark.parametrize(("path", "request_args"), _REQUESTS)
def test_hot_path_answers_as_the_litestar_handlers_do(
    client: TestClient[Any], path: str, request_args: dict[str, Any]
) -> None:
    app = client.app
    hot = client.post(path, **request_args)
    installed = app.hot_path
    app.hot_path = None  # every request through Litestar's routing and handlers
    try:
        plain = client.post(path, **request_args)
    finally:
        app.hot_path = installed
    assert hot.status_code == plain.status_code, (hot.text, plain.text)
    assert hot.headers["content-type"] == plain.headers["content-type"]
    assert hot.json() == plain.json()
