"""OpenAPI text from the code's own docstrings: property descriptions and body examples.

What belongs here: completing the generated OpenAPI document once, before it is first
served. A property without a ``msgspec.Meta(description=...)`` gets the description its
struct documents in the ``Args:`` / ``Attributes:`` section of its Google docstring (the
one place a field is explained), and a property without an example gets one from
:data:`PROPERTY_EXAMPLES` (by name) when a value type fits. A request body without an
example gets the one of its schema in :data:`BODY_EXAMPLES`. Explicit ``Meta``
descriptions and examples always win.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from typing import Any

import msgspec
from litestar import Litestar
from litestar.openapi.spec import Example, OpenAPI, Reference, Schema

from api.openapi_contract import document_contract

__all__ = ["BODY_EXAMPLES", "complete_openapi", "docstring_fields", "install", "struct_classes"]

_SECTION = re.compile(r"^(Args|Arguments|Attributes|Fields):\s*$")
_FIELD = re.compile(r"^(?P<name>\*{0,2}\w+)(?:\s*\([^)]*\))?:\s*(?P<text>.*)$")

_SNAKE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

_EXPERIMENT: dict[str, Any] = {
    "key": "checkout-redesign",
    "name": "Checkout redesign",
    "hypothesis": "A one-page checkout raises the purchase rate",
    "owner": "team-checkout",
    "unit_type": "user",
    "traffic_fraction": 1.0,
    "targeting": {"attr": "country", "op": "in", "value": ["US", "CA"]},
    "flag_key": "new-checkout",
    "variants": [
        {"key": "off", "weight": 0.5, "is_control": True, "name": "classic checkout"},
        {"key": "on", "weight": 0.5, "name": "one-page checkout"},
    ],
    "metrics": {"primary": ["purchase"], "guardrails": ["latency"]},
}
_FLAG: dict[str, Any] = {
    "key": "new-checkout",
    "name": "New checkout",
    "description": "The one-page checkout.",
    "type": "bool",
    "variations": {"on": True, "off": False},
    "default_variation": "off",
    "off_variation": "off",
    "rules": [
        {
            "description": "staff first",
            "condition": {"attr": "email", "op": "ends_with", "value": "@example.com"},
            "variation": "on",
        },
    ],
}

#: Request body examples, by the schema name of the body (``METHOD path`` for the
#: merge-patch bodies, which have no named schema). Tests decode or post every one.
BODY_EXAMPLES: dict[str, Any] = {
    "AssignRequest": {
        "unit_id": "user-42",
        "unit_type": "user",
        "attributes": {"country": "US", "plan": "pro"},
    },
    "BulkAssignRequest": {
        "units": [
            {"unit_id": "user-42", "attributes": {"country": "US"}},
            {"unit_id": "user-43", "attributes": {"country": "FR"}},
        ],
        "experiments": ["checkout-redesign"],
    },
    "FlagEvaluateRequest": {
        "unit_id": "user-42",
        "attributes": {"country": "US"},
        "flags": ["new-checkout"],
    },
    "Experiment": _EXPERIMENT,
    "Flag": _FLAG,
    "Segment": {
        "key": "us-pro",
        "name": "US pro users",
        "condition": {
            "all": [
                {"attr": "country", "op": "eq", "value": "US"},
                {"attr": "plan", "op": "eq", "value": "pro"},
            ]
        },
    },
    "Layer": {"key": "checkout-layer", "name": "Checkout", "description": "Checkout tests"},
    "Holdout": {"key": "global-2026", "name": "Global holdout", "traffic_fraction": 0.05},
    "Rollout": {
        "key": "new-checkout-ramp",
        "flag_key": "new-checkout",
        "variation": "on",
        "steps": [
            {"traffic_fraction": 0.05, "hold_s": 3600},
            {"traffic_fraction": 0.25, "hold_s": 86400, "min_units": 1000},
            {"traffic_fraction": 1.0},
        ],
        "guardrails": ["latency"],
    },
    "MetricDefinition": {
        "key": "purchase",
        "name": "Purchase rate",
        "kind": "binomial",
        "event": "purchase",
        "window_end_s": 604800,
    },
    "TargetingBody": {
        "targeting": {"attr": "country", "op": "in", "value": ["US", "CA"]},
        "reason": "widen to Canada",
    },
    "StatusChange": {"action": "start", "reason": "design review passed"},
    "SwitchRequest": {"reason": "checkout errors in EU"},
    "RolloutActionRequest": {"action": "advance", "reason": "guardrails healthy"},
    "OfrepRequest": {"context": {"targetingKey": "user-42", "country": "US"}},
    "ValidateRequest": {"kind": "experiment", "object": _EXPERIMENT},
    "EventsRequest": {
        "events": [
            {
                "event_id": "evt-1",
                "unit_id": "user-42",
                "name": "purchase",
                "occurred_at": "2026-06-01T12:00:00Z",
                "value": 42.5,
            }
        ],
        "exposures": [
            {
                "experiment": "checkout-redesign",
                "variant": "on",
                "unit_id": "user-42",
                "exposed_at": "2026-06-01T11:59:00Z",
            }
        ],
    },
    "PATCH /v1/experiments/{key}": {"owner": "team-payments", "traffic_fraction": 0.5},
    "PATCH /v1/segments/{key}": {"description": "US customers on the pro plan"},
    "PATCH /v1/layers/{key}": {"description": "Every checkout test"},
    "PATCH /v1/holdouts/{key}": {"name": "Holdout 2026"},
    "PATCH /v1/flags/{key}": {
        "rules": [*_FLAG["rules"], {"experiment": "checkout-redesign"}],
    },
    "PATCH /v1/rollouts/{key}": {"auto_rollback": True},
    "PATCH /v1/metrics/{key}": {"name": "Purchase rate (7 days)"},
}


def docstring_fields(cls: type) -> dict[str, str]:
    """``{field: description}`` from the ``Args:``/``Attributes:`` sections of ``cls``.

    Examples:
        >>> class P:
        ...     '''A point.
        ...
        ...     Args:
        ...         x: Horizontal position,
        ...             in metres.
        ...     '''
        >>> docstring_fields(P)
        {'x': 'Horizontal position, in metres.'}
    """
    doc = inspect.getdoc(cls) or ""
    fields: dict[str, str] = {}
    in_section = False
    current: str | None = None
    base_indent = 0
    for line in doc.splitlines():
        stripped = line.strip()
        if _SECTION.match(stripped) and not line.startswith(" "):
            in_section, current = True, None
            continue
        if not in_section:
            continue
        if not stripped:
            current = None
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            in_section, current = False, None
            continue
        match = _FIELD.match(stripped)
        if match and (current is None or indent <= base_indent):
            current, base_indent = match["name"].lstrip("*"), indent
            fields[current] = match["text"].strip()
        elif current is not None:
            fields[current] = f"{fields[current]} {stripped}".strip()
    return fields


def struct_classes() -> dict[str, type]:
    """Every loaded ``msgspec.Struct`` subclass, by class name (the OpenAPI schema name)."""
    found: dict[str, type] = {}
    stack: list[type] = [msgspec.Struct]
    while stack:
        cls = stack.pop()
        subclasses: list[type] = cls.__subclasses__()
        for sub in subclasses:
            found.setdefault(sub.__name__, sub)
            stack.append(sub)
    return found


def _properties(schema: Schema) -> Iterator[tuple[str, Schema | Reference]]:
    yield from (schema.properties or {}).items()


def complete_openapi(document: OpenAPI) -> None:
    """Fill missing property descriptions and body examples of ``document`` (in place).

    Also adds what :mod:`api.openapi_contract` documents (key patterns, response headers,
    DELETE statuses).
    """
    classes = struct_classes()
    document_contract(document, classes)
    schemas = document.components.schemas if document.components else {}
    for schema_name, schema in (schemas or {}).items():
        cls = classes.get(schema_name)
        described = docstring_fields(cls) if cls is not None else {}
        if cls is not None and not schema.description:
            schema.description = (inspect.getdoc(cls) or "").split("\n\n")[0] or None
        for prop_name, prop in _properties(schema):
            snake = _SNAKE.sub("_", prop_name).lower()  # camel-renamed (OFREP) fields
            text = described.get(prop_name) or described.get(snake)
            if not prop.description and text:
                prop.description = text
    for path, path_item in (document.paths or {}).items():
        for method in ("post", "put", "patch"):
            operation = getattr(path_item, method)
            body = operation.request_body if operation is not None else None
            if body is None or isinstance(body, Reference):
                continue
            for media in body.content.values():
                ref = media.schema.ref if isinstance(media.schema, Reference) else None
                name = ref.rsplit("/", 1)[-1] if ref else f"{method.upper()} {path}"
                if media.examples or media.example is not None or name not in BODY_EXAMPLES:
                    continue
                media.examples = {"example": Example(value=BODY_EXAMPLES[name])}


def install(app: Litestar) -> None:
    """Complete the app's OpenAPI document now (it is built once and cached by Litestar)."""
    complete_openapi(app.openapi_schema)
