"""The OpenAPI document states what the responses really are: statuses, headers, key rules.

Each test reads the served document and checks the same fact against a real response,
so a document that drifts from the handlers fails here (schemathesis checks the rest).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar.testing import TestClient

from api.schemas import KEY_REGEX


@pytest.fixture
def document(client: TestClient[Any]) -> dict[str, Any]:
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def _header_schema(operation: dict[str, Any], status: str, name: str) -> dict[str, Any]:
    header = operation["responses"][status]["headers"][name]
    assert header["required"] is True
    return header["schema"]  # type: ignore[no-any-return]


def test_delete_is_documented_as_the_status_it_answers(
    document: dict[str, Any], client: TestClient[Any]
) -> None:
    segment = document["paths"]["/v1/segments/{key}"]["delete"]["responses"]
    assert "204" in segment and "200" not in segment
    client.post(
        "/v1/segments",
        json={"key": "us", "condition": {"attr": "country", "op": "eq", "value": "US"}},
    )
    r = client.delete("/v1/segments/us")
    assert r.status_code == 204 and r.content == b""
    # only an experiment that has run answers 200: archived, with its body and ETag
    experiment = document["paths"]["/v1/experiments/{key}"]["delete"]["responses"]
    assert experiment["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/Experiment"
    )
    assert "204" in experiment
    r = client.delete("/v1/experiments/exp-a")
    assert r.status_code == 200 and r.json()["status"] == "archived"
    assert re.fullmatch(
        _header_schema(document["paths"]["/v1/experiments/{key}"]["delete"], "200", "ETag")[
            "pattern"
        ],
        r.headers["ETag"],
    )


def test_etag_and_location_headers_are_documented_with_their_format(
    document: dict[str, Any], client: TestClient[Any]
) -> None:
    get = document["paths"]["/v1/flags/{key}"]["get"]
    r = client.get("/v1/flags/new-checkout")
    assert re.fullmatch(_header_schema(get, "200", "ETag")["pattern"], r.headers["ETag"])
    create = document["paths"]["/v1/layers"]["post"]
    assert _header_schema(create, "201", "Location")["format"] == "uri-reference"
    assert "ETag" in create["responses"]["201"]["headers"]
    r = client.post("/v1/layers", json={"key": "search-layer"})
    assert r.status_code == 201 and r.headers["Location"] == "/v1/layers/search-layer"
    # lists carry no ETag: none is promised
    assert "ETag" not in (
        document["paths"]["/v1/flags"]["get"]["responses"]["200"].get("headers") or {}
    )


def test_retry_after_is_documented_on_429_and_503(document: dict[str, Any]) -> None:
    assign = document["paths"]["/v1/assign"]["post"]["responses"]
    assert _header_schema({"responses": assign}, "429", "Retry-After")["pattern"]
    shed = assign["503"]["headers"]["Retry-After"]
    assert shed["required"] is False  # sent when shed for load, not when a store is down
    assert re.fullmatch(shed["schema"]["pattern"], "1")


def test_keys_carry_the_key_rule_in_paths_and_bodies(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name, prop in (
        ("Experiment", "key"),
        ("Flag", "key"),
        ("Variant", "key"),
        ("Segment", "key"),
        ("LayerPlacement", "layer"),
    ):
        assert schemas[name]["properties"][prop]["pattern"] == KEY_REGEX, name
    path = document["paths"]["/v1/flags/{key}"]["get"]["parameters"]
    assert [p["schema"]["pattern"] for p in path if p["in"] == "path"] == [KEY_REGEX]
    items = schemas["AssignRequest"]["properties"]["experiments"]["oneOf"][0]["items"]
    assert (items["pattern"], items["minLength"], items["maxLength"]) == (KEY_REGEX, 1, 64)
    assert schemas["AssignRequest"]["additionalProperties"] is False
    # the rule means what the server does: a trailing newline is not a key
    assert re.search(KEY_REGEX, "exp-a") and not re.search(KEY_REGEX, "exp-a\n")


@pytest.mark.parametrize("key", ["exp-a\n", "Exp-A", ""])
def test_a_key_the_schema_refuses_is_refused_with_a_422_naming_it(
    client: TestClient[Any], key: str
) -> None:
    r = client.post("/v1/assign", json={"unit_id": "u", "experiments": [key]})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["path"] == "experiments[0]"


def test_headers_are_strings_never_null(document: dict[str, Any]) -> None:
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            for p in op.get("parameters", []) if isinstance(op, dict) else []:
                if p["in"] == "header":
                    assert p["schema"].get("type") == "string", (method, path, p["name"])
