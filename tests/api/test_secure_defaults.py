"""Secure by default: no open API on a network address, JSON only, allowed hosts only."""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from abwb.access.keys import MemoryApiKeyStore
from abwb.cli.main import build_parser
from abwb.cli.serve import build_app, check_exposure
from abwb.errors import InvalidInput
from abwb.settings import ApiSettings, BootstrapKey, DatabaseSettings, Settings

from .conftest import ADMIN, TEST_HOST, assert_problem, bearer


def args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["serve", *argv])


def settings(tmp_path: Path, **api: Any) -> Settings:
    return Settings(
        database=DatabaseSettings(home=tmp_path),
        api=ApiSettings(snapshot_poll_s=0, allowed_hosts=(TEST_HOST,), **api),
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::"])
def test_serve_refuses_a_network_address_without_keys(tmp_path: Path, host: str) -> None:
    app = build_app(args(), settings(tmp_path))
    with pytest.raises(InvalidInput, match="without API keys") as info:
        check_exposure(host, app)
    assert info.value.problems[0].path == "--host"


def test_serve_binds_loopback_without_keys(tmp_path: Path) -> None:
    app = build_app(args(), settings(tmp_path))
    for host in ("127.0.0.1", "localhost", "::1"):
        check_exposure(host, app)


def test_serve_binds_a_network_address_with_a_key(tmp_path: Path) -> None:
    key = BootstrapKey("ops", "ops-secret-1", ("admin",))
    check_exposure("0.0.0.0", build_app(args(), settings(tmp_path, keys=(key,))))


def test_auth_off_is_explicit_and_loud(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    check_exposure("0.0.0.0", build_app(args(), settings(tmp_path, auth="off")))
    assert "authentication OFF" in capsys.readouterr().err


def test_app_logs_go_to_the_stderr_of_the_moment_they_are_written(tmp_path: Path) -> None:
    # The app's log handler writes from a thread, later. It used to keep the stderr of
    # the moment the app was built: after that stream was swapped and closed (capsys, a
    # notebook's capture), records hit the closed stream ("--- Logging error ---").
    built_under = io.StringIO()
    with contextlib.redirect_stderr(built_under):
        build_app(args(), settings(tmp_path))
    built_under.close()
    now = io.StringIO()
    with contextlib.redirect_stderr(now):
        logging.getLogger("abwb.test").warning("written after the swap")
        deadline = time.monotonic() + 10
        while "written after the swap" not in now.getvalue():
            assert time.monotonic() < deadline, "the record never reached the current stderr"
            time.sleep(0.01)
    assert "Logging error" not in now.getvalue(), now.getvalue()


def test_a_cross_origin_simple_post_cannot_kill_a_flag(
    make_client: Callable[..., TestClient[Any]],
) -> None:
    client = make_client()  # auto mode, no keys: the embedded demo situation
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
        r = client.post(
            "/v1/flags/new-checkout/kill",
            content=b'{"reason": "csrf"}',
            headers={"Content-Type": content_type} if content_type else {},
        )
        assert_problem(r, 415)
    flag = client.get("/v1/flags/new-checkout").json()
    assert flag["killed"] is False
    ok = client.post("/v1/flags/new-checkout/kill", json={"reason": "real"})
    assert ok.status_code == 200


def test_json_routes_accept_json_media_types(
    make_client: Callable[..., TestClient[Any]],
) -> None:
    client = make_client()
    for content_type in ("application/json", "application/json; charset=utf-8"):
        r = client.post(
            "/v1/assign", content=b'{"unit_id": "u"}', headers={"Content-Type": content_type}
        )
        assert r.status_code == 200, r.text


def test_unknown_host_names_are_refused(
    make_client: Callable[..., TestClient[Any]], keys: MemoryApiKeyStore
) -> None:
    client = make_client(keys=keys)
    for host in ("evil.example", "attacker.test:8000"):
        r = client.get("/v1/health", headers={"Host": host})
        assert_problem(r, 400)
        r = client.post(
            "/v1/flags/new-checkout/kill", json={"reason": "x"}, headers={"Host": host, **bearer(ADMIN)}
        )
        assert_problem(r, 400)
    for host in ("localhost:8000", "127.0.0.1", "[::1]:8000", TEST_HOST):
        assert client.get("/v1/health", headers={"Host": host}).status_code == 200


def test_allowed_hosts_come_from_the_environment() -> None:
    api = ApiSettings.from_env(
        {"ABWB_API_ALLOWED_HOSTS": "abwb.internal, Abwb.Example", "ABWB_API_HOST": "10.0.0.5"}
    )
    assert {"abwb.internal", "abwb.example", "10.0.0.5", "localhost"} <= api.accepted_hosts
    assert ApiSettings.from_env({"ABWB_API_TRUSTED_PROXIES": "10.0.0.1"}).trusted_proxies == (
        "10.0.0.1",
    )
    assert ApiSettings.from_env({}).trusted_proxies == ()


def test_openapi_documents_204_for_delete_and_415_for_json_routes(
    client: TestClient[Any],
) -> None:
    doc = client.get("/schema/openapi.json").json()
    delete = doc["paths"]["/v1/segments/{key}"]["delete"]["responses"]
    assert "204" in delete and "200" not in delete  # only an experiment can answer 200
    assert "415" in doc["paths"]["/v1/assign"]["post"]["responses"]
    assert "400" in doc["paths"]["/v1/health"]["get"]["responses"]


def test_options_lists_every_method_of_a_path(client: TestClient[Any]) -> None:
    expected = {
        "/v1/segments": "GET, OPTIONS, POST",
        "/v1/segments/some-key": "DELETE, GET, OPTIONS, PATCH",
        "/v1/assign": "OPTIONS, POST",
    }
    for path, allow in expected.items():
        r = client.options(path)
        assert r.status_code == 204 and r.headers["allow"] == allow, (path, r.headers)
