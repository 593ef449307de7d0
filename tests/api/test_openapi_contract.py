"""The OpenAPI document states what the responses really are: statuses, headers, key rules.

Each test reads the served document and checks the same fact against a real response,
so a document that drifts from the handlers fails here (schemathesis checks the rest).
"""

from __future__ import annotations

import copy
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


def test_patch_documents_if_match_as_required(
    document: dict[str, Any], client: TestClient[Any]
) -> None:
    (header,) = [
        p for p in document["paths"]["/v1/flags/{key}"]["patch"]["parameters"] if p["in"] == "header"
    ]
    assert header["name"] == "If-Match" and header["required"] is True
    assert client.patch("/v1/flags/new-checkout", json={"name": "x"}).status_code == 428
    for value in ('"v1"', 'W/"v1"', "*"):  # what the pattern admits, the server takes
        assert re.search(header["schema"]["pattern"], value)
    for value in ("0", "v1", '"1"', '"v1", "v2"'):  # and what it refuses, the server refuses
        assert not re.search(header["schema"]["pattern"], value)
        r = client.patch("/v1/flags/new-checkout", json={"name": "x"}, headers={"If-Match": value})
        assert r.status_code == 422 and r.json()["errors"][0]["path"] == "If-Match", value


# --- every declared bound is the validator's: the boundary passes, one step past fails ---

#: A valid create body per kind in the test workspace (references name its objects).
_BASE: dict[str, dict[str, Any]] = {
    "experiment": {
        "variants": [
            {"key": "control", "weight": 0.5, "is_control": True},
            {"key": "treatment", "weight": 0.5},
        ]
    },
    "holdout": {"traffic_fraction": 0.1},
    "flag": {
        "type": "bool",
        "variations": {"on": True, "off": False},
        "default_variation": "off",
        "off_variation": "off",
    },
    "rollout": {"flag_key": "new-checkout", "variation": "on", "steps": [{"traffic_fraction": 1}]},
    "metric": {"kind": "binomial", "event": "purchase"},
}
#: (component, property) → (kind, path of the property in a create body of that kind).
_BOUNDED: dict[tuple[str, str], tuple[str, tuple[str | int, ...]]] = {
    ("Experiment", "traffic_fraction"): ("experiment", ("traffic_fraction",)),
    ("Experiment", "phase"): ("experiment", ("phase",)),
    ("Experiment", "unit_type"): ("experiment", ("unit_type",)),
    ("Experiment", "variants"): ("experiment", ("variants",)),
    ("Variant", "weight"): ("experiment", ("variants", 0, "weight")),
    ("Holdout", "traffic_fraction"): ("holdout", ("traffic_fraction",)),
    ("Flag", "variations"): ("flag", ("variations",)),
    ("SplitShare", "weight"): ("flag", ("rules", 0, "split", 0, "weight")),
    ("Rollout", "steps"): ("rollout", ("steps",)),
    ("RolloutStep", "traffic_fraction"): ("rollout", ("steps", 0, "traffic_fraction")),
    ("RolloutStep", "hold_s"): ("rollout", ("steps", 0, "hold_s")),
    ("RolloutStep", "min_units"): ("rollout", ("steps", 0, "min_units")),
    ("Rollout", "step_index"): ("rollout", ("step_index",)),
    ("Rollout", "paused_s"): ("rollout", ("paused_s",)),
    ("MetricDefinition", "window_start_s"): ("metric", ("window_start_s",)),
    ("MetricDefinition", "window_end_s"): ("metric", ("window_end_s",)),
    ("MetricDefinition", "guardrail_max_harm_rel"): ("metric", ("guardrail_max_harm_rel",)),
    ("MetricDefinition", "cuped_window_s"): ("metric", ("cuped_window_s",)),
    ("Capping", "absolute"): ("metric", ("capping", "absolute")),
    ("Capping", "percentile"): ("metric", ("capping", "percentile")),
}


def _declared(document: dict[str, Any], component: str, prop: str) -> dict[str, Any]:
    schema = document["components"]["schemas"][component]["properties"][prop]
    return next((s for s in schema.get("oneOf", [schema]) if s.get("type") != "null"), schema)


def _probes(schema: dict[str, Any]) -> list[tuple[Any, bool]]:
    """(value, accepted) pairs at each declared bound: on it (or just inside) and past it."""
    step = 1 if schema["type"] == "integer" else 1e-6
    probes: list[tuple[Any, bool]] = []
    if "minimum" in schema:
        probes += [(schema["minimum"], True), (schema["minimum"] - step, False)]
    if "maximum" in schema:
        probes += [(schema["maximum"], True), (schema["maximum"] + step, False)]
    if "exclusiveMinimum" in schema:
        probes += [(schema["exclusiveMinimum"] + step, True), (schema["exclusiveMinimum"], False)]
    if "exclusiveMaximum" in schema:
        probes += [(schema["exclusiveMaximum"] - step, True), (schema["exclusiveMaximum"], False)]
    for keyword in ("minLength", "minItems", "minProperties"):
        if keyword in schema:
            probes += [(schema[keyword] - 1, False)]  # sized: a value one short (built below)
    return probes


def _sized(schema: dict[str, Any], size: int) -> Any:
    if schema["type"] == "string":
        return "u" * size
    if schema["type"] == "object":
        return {"on": True, "off": False} if size else {}
    return [{"key": "control", "weight": 1.0, "is_control": True}][:size] if size else []


def _body(kind: str, path: tuple[str | int, ...], value: Any, key: str) -> dict[str, Any]:
    body: dict[str, Any] = {"key": key, **copy.deepcopy(_BASE[kind])}
    if path[:2] == ("rules", 0):
        body["rules"] = [{"split": [{"variation": "on", "weight": 0.5}, {"variation": "off"}]}]
    target: Any = body
    for part in path[:-1]:
        target = target.setdefault(part, {}) if isinstance(part, str) else target[part]
    target[path[-1]] = value
    if path[:3] == ("rules", 0, "split"):  # the other share keeps the sum at 1
        body["rules"][0]["split"][1]["weight"] = 1 - value
    if path[:2] == ("variants", 0):
        body["variants"][1]["weight"] = 1 - value
    return body


@pytest.mark.parametrize(("component", "prop"), sorted(_BOUNDED))
def test_each_declared_bound_is_the_one_the_server_enforces(
    document: dict[str, Any], client: TestClient[Any], component: str, prop: str
) -> None:
    kind, path = _BOUNDED[(component, prop)]
    declared = _declared(document, component, prop)
    probes = _probes(declared)
    assert probes, f"{component}.{prop} declares no bound"
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    plural = document["paths"]  # the create route of the kind
    route = next(p for p in plural if p.startswith("/v1/") and p.rstrip("s").endswith(kind))
    for i, (value, accepted) in enumerate(probes):
        if declared["type"] in ("string", "array", "object"):
            value = _sized(declared, value)
        r = client.post(route, json=_body(kind, path, value, f"bound-{i}"))
        if accepted:
            assert r.status_code == 201, (field, value, r.text)
        else:
            assert r.status_code == 422, (field, value, r.text)
            assert field in [e["path"] for e in r.json()["errors"]], (field, value, r.text)


def test_every_bound_of_the_config_models_is_probed() -> None:
    from abwb.config.validation import bounds_of
    from api.openapi_docs import struct_classes

    classes = struct_classes()
    declared = {
        (name, field)
        for name in {c for c, _ in _BOUNDED} | {"LayerPlacement", "Segment", "Layer"}
        for field in bounds_of(classes[name])
    }
    # item bounds and the placement's ranges are probed by the key/list tests elsewhere
    assert declared - set(_BOUNDED) <= {("Experiment", "surfaces[]"), ("LayerPlacement", "ranges")}
