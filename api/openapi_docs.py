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

__all__ = ["BODY_EXAMPLES", "complete_openapi", "docstring_fields", "install", "struct_classes"]

_SECTION = re.compile(r"^(Args|Arguments|Attributes|Fields):\s*$")
_FIELD = re.compile(r"^(?P<name>\*{0,2}\w+)(?:\s*\([^)]*\))?:\s*(?P<text>.*)$")

_SNAKE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

#: Request body examples, by the schema name of the body.
BODY_EXAMPLES: dict[str, Any] = {}


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


def _properties(schema: Schema) -> Iterator[tuple[str, Schema]]:
    for name, prop in (schema.properties or {}).items():
        if isinstance(prop, Schema):
            yield name, prop


def complete_openapi(document: OpenAPI) -> None:
    """Fill missing property descriptions and body examples of ``document`` (in place)."""
    classes = struct_classes()
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
    for path_item in (document.paths or {}).values():
        for operation in (path_item.post, path_item.put, path_item.patch):
            body = operation.request_body if operation is not None else None
            if body is None or isinstance(body, Reference):
                continue
            for media in body.content.values():
                ref = media.schema.ref if isinstance(media.schema, Reference) else None
                name = ref.rsplit("/", 1)[-1] if ref else None
                if media.examples or name not in BODY_EXAMPLES:
                    continue
                media.examples = {
                    "example": Example(summary=f"A {name}", value=BODY_EXAMPLES[name])
                }


def install(app: Litestar) -> None:
    """Complete the app's OpenAPI document now (it is built once and cached by Litestar)."""
    complete_openapi(app.openapi_schema)
