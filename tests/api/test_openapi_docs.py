"""The OpenAPI document: every property described, every request body with an example."""

from __future__ import annotations

import re
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from api.openapi_docs import BODY_EXAMPLES, docstring_fields, struct_classes
from api.schemas import KEY_REGEX


@pytest.fixture
def document(client: TestClient[Any]) -> dict[str, Any]:
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def test_every_schema_property_has_a_description(document: dict[str, Any]) -> None:
    missing = [
        f"{name}.{prop}"
        for name, schema in document["components"]["schemas"].items()
        for prop, spec in (schema.get("properties") or {}).items()
        if not spec.get("description")
    ]
    total = sum(len(s.get("properties") or {}) for s in document["components"]["schemas"].values())
    assert total > 200
    assert missing == []


def test_every_request_body_has_an_example(document: dict[str, Any]) -> None:
    bodies = {
        f"{method.upper()} {path}": op["requestBody"]
        for path, ops in document["paths"].items()
        for method, op in ops.items()
        if isinstance(op, dict) and "requestBody" in op
    }
    assert len(bodies) >= 20
    without = [
        where
        for where, body in bodies.items()
        if not all(m.get("examples") or "example" in m for m in body["content"].values())
    ]
    assert without == []


@pytest.mark.parametrize("name", sorted(k for k in BODY_EXAMPLES if " " not in k))
def test_each_named_example_decodes_into_its_struct(name: str) -> None:
    cls = struct_classes()[name]
    msgspec.convert(BODY_EXAMPLES[name], cls)  # raises if the example is not a valid body


def test_patch_examples_only_name_fields_of_their_kind() -> None:
    kinds = {"experiments": "Experiment", "segments": "Segment", "layers": "Layer",
             "holdouts": "Holdout", "flags": "Flag", "rollouts": "Rollout",
             "metrics": "MetricDefinition"}
    patches = {k: v for k, v in BODY_EXAMPLES.items() if k.startswith("PATCH ")}
    assert len(patches) == len(kinds)
    for where, patch in patches.items():
        cls = struct_classes()[kinds[where.split("/")[2]]]
        assert set(patch) <= set(cls.__struct_fields__), where


def test_the_docstring_reader_joins_continuations_and_stops_at_the_section_end() -> None:
    class Sample:
        """Summary.

        Args:
            a: First line
                continued.
            b_c: Second.

        Returns:
            not a field: ignored.
        """

    assert docstring_fields(Sample) == {"a": "First line continued.", "b_c": "Second."}


def test_delete_descriptions_name_their_own_kind(document: dict[str, Any]) -> None:
    for plural in ("segments", "layers", "flags", "holdouts", "metrics", "rollouts"):
        text = str(document["paths"][f"/v1/{plural}/{{key}}"]["delete"])
        assert "archived" not in text.lower(), (plural, text)


def test_create_summaries_use_the_right_article(document: dict[str, Any]) -> None:
    summaries = [op.get("summary", "") for ops in document["paths"].values()
                 for op in ops.values() if isinstance(op, dict)]
    assert not [s for s in summaries if re.match(r".* a [aeiou]", s)]
    assert "Create an experiment" in summaries


def test_key_patterns_and_header_formats_are_in_the_schema(document: dict[str, Any]) -> None:
    params = {
        (path, p["name"] if p["in"] != "path" else "path:" + p["name"]): p["schema"]
        for path, ops in document["paths"].items()
        for op in ops.values() if isinstance(op, dict)
        for p in op.get("parameters", [])
    }
    keys = [s for (path, name), s in params.items() if name == "path:key" and path.startswith("/v1/")]
    assert len(keys) >= 10 and all(s.get("pattern") == KEY_REGEX for s in keys)
    if_match = [schema for (_, name), schema in params.items() if name == "If-Match"]
    assert if_match and all('"v' in s["pattern"] for s in if_match)


def test_a_bad_key_is_400_naming_it(client: TestClient[Any]) -> None:
    response = client.get("/v1/flags/Not A Key")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "key"
