"""Auth matrix: every route of the app × (no key → 401, wrong scope → 403, right scope → in).

Generated from the application's route table, so a new route without a scope (or
with a scope nobody checks) fails here instead of shipping open.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from abwb.access.keys import SCOPES, MemoryApiKeyStore
from abwb.settings import Settings
from abwb.store.memory import MemoryConfigStore, MemoryEventStore
from api import create_app

from .conftest import ADMIN, ASSIGN, INGEST, READ, assert_problem, bearer, workspace

#: Routes that need no key (liveness, readiness, legacy health, OpenAPI).
PUBLIC = re.compile(r"^(/health|/ready|/v1/health|/schema(/.*)?)$")
#: A key that holds exactly each scope.
SECRET_OF = {"admin": ADMIN, "read": READ, "assign": ASSIGN, "ingest": INGEST}
#: A key that lacks each scope.
WRONG_FOR = {"admin": READ, "read": ASSIGN, "assign": INGEST, "ingest": ASSIGN}
#: Values for path parameters (existing objects, so handlers get past 404 when allowed).
PARAMS = {"key": "exp-a", "kind": "experiments"}


def _app() -> Litestar:
    from abwb.config import ConfigBundle

    return create_app(
        Settings(),
        config_store=MemoryConfigStore(ConfigBundle.from_data(workspace())),
        event_store=MemoryEventStore(),
    )


def _routes() -> list[tuple[str, str, str | None]]:
    """(method, path template, scope) of every HTTP handler of the app."""
    found = []
    for route in _app().routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            for method in sorted(handler.http_methods):
                if method in {"HEAD", "OPTIONS"}:
                    continue
                found.append((method, route.path, handler.opt.get("scope")))
    return sorted(set(found))


ROUTES = _routes()
PROTECTED = [(m, p, s) for m, p, s in ROUTES if s is not None]


def _url(template: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: PARAMS.get(m.group(1), "x"), template)


def test_the_route_table_is_what_the_matrix_covers() -> None:
    assert len(PROTECTED) >= 30
    public = sorted(p for _, p, s in ROUTES if s is None)
    stray = [p for p in public if not PUBLIC.match(p)]
    assert stray == [], f"routes without opt['scope'] that are not public: {stray}"
    assert {"/health", "/ready", "/v1/health"} <= set(public)
    assert {s for _, _, s in PROTECTED} <= set(SCOPES)
    assert {s for _, _, s in PROTECTED} == set(SCOPES)  # every scope guards something
    assert ("POST", "/v1/events", "ingest") in PROTECTED


@pytest.fixture
def secured(
    make_client: Callable[..., TestClient[Any]], keys: MemoryApiKeyStore
) -> TestClient[Any]:
    return make_client(keys=keys)


def _call(client: TestClient[Any], method: str, path: str, secret: str | None) -> Any:
    headers = bearer(secret) if secret else {}
    if method in {"POST", "PUT", "PATCH"}:
        return client.request(method, _url(path), json={}, headers=headers)
    return client.request(method, _url(path), headers=headers)


@pytest.mark.parametrize(("method", "path", "scope"), PROTECTED, ids=lambda x: str(x))
def test_protected_route(secured: TestClient[Any], method: str, path: str, scope: str) -> None:
    assert_problem(_call(secured, method, path, None), 401)
    assert_problem(_call(secured, method, path, "not-a-key-at-all"), 401)
    assert_problem(_call(secured, method, path, WRONG_FOR[scope]), 403)
    allowed = _call(secured, method, path, SECRET_OF[scope])
    assert allowed.status_code not in (401, 403), allowed.text
    assert allowed.status_code < 500, allowed.text
    if scope != "admin":  # admin implies every scope
        assert _call(secured, method, path, ADMIN).status_code not in (401, 403)


@pytest.mark.parametrize("path", ["/health", "/ready", "/v1/health", "/schema/openapi.json"])
def test_public_routes_need_no_key(secured: TestClient[Any], path: str) -> None:
    assert secured.get(path).status_code == 200
