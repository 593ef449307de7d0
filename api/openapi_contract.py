"""What the OpenAPI document promises that Litestar cannot derive from the handlers.

What belongs here: completing the generated document so that it matches the responses
the API really sends (schemathesis checks both ways, see ``tests/api/schemathesis_cases.py``):

- **Key patterns.** Every config-object property that the config models check with the
  key rule (:data:`KEY_PROPERTIES`) carries :data:`api.schemas.KEY_REGEX` as its
  ``pattern`` (path parameters and request key lists declare it themselves).
- **Response headers.** ``ETag`` on every success response that carries one config
  object (or an experiment's targeting), ``Location`` on every 201, ``Retry-After`` on
  every 429 (always sent) and 503 (sent when an assignment is shed for load).
- **DELETE statuses.** Litestar documents a 200 with an empty schema for a handler that
  returns a bare ``Response``; the config DELETE handlers answer 204, and only the
  experiment's declares a 200 (archived, with its body) itself.
- **What msgspec enforces and Litestar leaves out:** ``additionalProperties: false`` on
  every Struct that forbids unknown fields, the length and pattern limits of list
  items (e.g. the experiment keys of ``/v1/assign``), and header parameters that are
  strings, never ``null`` (a missing header is the absent value).
- **Merge patches** name the fields of their kind (``additionalProperties: false``).
- **Bounds the models check in code.** Each field's
  :class:`~abwb.config.validation.Bound` (ranges, non-empty, no NUL) becomes
  ``minimum`` / ``exclusiveMaximum`` / ``minLength`` / ``minItems`` / ``pattern``...
- **Cross-field rules JSON Schema can state** (:func:`_cross_field_rules`) and
  conditions typed as objects (:data:`CONDITION_PROPERTIES`). What it cannot state
  (references to other objects, weights summing to 1, UTF-8 byte limits, the condition
  grammar) is listed in ``tests/api/schemathesis_cases.py`` and docs/api.md.
"""

from __future__ import annotations

from typing import Any

import msgspec.inspect
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIHeader,
    OpenAPIResponse,
    Operation,
    Parameter,
    Reference,
    Schema,
)
from litestar.openapi.spec.enums import OpenAPIType

from abwb.config.flag import RULE_OUTCOMES
from abwb.config.kinds import KINDS
from abwb.config.metric import SOURCES_BY_KIND
from abwb.config.validation import bounds_of
from abwb.store.protocol import KIND_MODELS
from api.schemas import KEY_REGEX

__all__ = ["CONDITION_PROPERTIES", "KEY_PROPERTIES", "RESPONSE_HEADERS", "document_contract"]

#: Component schema → properties validated with the config key rule (``check_key``).
KEY_PROPERTIES: dict[str, tuple[str, ...]] = {
    **{model.__name__: ("key",) for model in KIND_MODELS.values()},
    "Variant": ("key",),
    "LayerPlacement": ("layer",),
}
#: Component schema → properties holding a targeting condition (an object; ``null`` =
#: everyone where the model allows it). The grammar inside is not stated here (it is
#: recursive and refers to segments); :mod:`abwb.targeting.grammar` checks it.
CONDITION_PROPERTIES: dict[str, tuple[str, ...]] = {
    "Segment": ("condition",),
    "Experiment": ("targeting",),
    "FlagRule": ("condition",),
    "TargetingBody": ("targeting",),
}
_NULL = Schema(type=OpenAPIType.NULL)
_NOT_NULL = Schema(schema_not=_NULL)
_FILLED = Schema(type=OpenAPIType.STRING, min_length=1)


def _cross_field_rules() -> dict[str, Schema]:
    """Rules between fields that JSON Schema can state, by component schema.

    - ``FlagRule``: exactly one outcome (:data:`~abwb.config.flag.RULE_OUTCOMES`) set.
    - ``MetricDefinition``: the sources its kind needs, non-empty
      (:data:`~abwb.config.metric.SOURCES_BY_KIND`).
    - ``ValidateRequest``: ``bundle`` (no ``object``), or ``kind`` and ``object`` (no
      ``bundle``), as ``api.routes.validate`` checks.
    """
    return {
        "FlagRule": Schema(
            one_of=[Schema(required=[name], properties={name: _NOT_NULL}) for name in RULE_OUTCOMES]
        ),
        "MetricDefinition": Schema(
            all_of=[
                Schema(
                    schema_if=Schema(properties={"kind": Schema(const=kind)}, required=["kind"]),
                    then=Schema(required=list(sources), properties=dict.fromkeys(sources, _FILLED)),
                )
                for kind, sources in SOURCES_BY_KIND.items()
            ]
        ),
        "ValidateRequest": Schema(
            one_of=[
                Schema(
                    required=["bundle"],
                    properties={"bundle": Schema(type=OpenAPIType.OBJECT), "object": _NULL},
                ),
                Schema(
                    required=["kind", "object"],
                    properties={
                        "kind": Schema(type=OpenAPIType.STRING),
                        "object": Schema(type=OpenAPIType.OBJECT),
                        "bundle": _NULL,
                    },
                ),
            ]
        ),
    }


#: Success bodies sent with the ETag of the object they come from.
_WITH_ETAG = frozenset({*(model.__name__ for model in KIND_MODELS.values()), "TargetingBody"})

_ETAG = OpenAPIHeader(
    schema=Schema(type=OpenAPIType.STRING, pattern=r'^"v[0-9]{1,18}"$'),
    description='The object\'s version, e.g. "v3"; send it back in If-Match to change it.',
    required=True,
)
_LOCATION = OpenAPIHeader(
    schema=Schema(type=OpenAPIType.STRING, format="uri-reference"),  # type: ignore[arg-type]
    description="Path of the object created.",
    required=True,
)
_RETRY_AFTER = OpenAPIHeader(
    schema=Schema(type=OpenAPIType.STRING, pattern=r"^[0-9]{1,9}$"),
    description="Seconds to wait before retrying.",
    required=True,
)
_RETRY_AFTER_IF_SHED = OpenAPIHeader(
    schema=Schema(type=OpenAPIType.STRING, pattern=r"^[0-9]{1,9}$"),
    description="Seconds to wait; sent when the request was shed for load "
    "(ABWB_API_MAX_IN_FLIGHT), not when a store is down.",
    required=False,
)
#: Header names documented here, by where they are sent (for the docs and the tests).
RESPONSE_HEADERS: dict[str, str] = {
    "ETag": "2xx responses carrying one config object (or its targeting)",
    "Location": "201",
    "Retry-After": "429 (always), 503 (when shed for load)",
}


def document_contract(document: OpenAPI, classes: dict[str, type]) -> None:
    """Add key patterns, response headers, exact statuses and msgspec's limits to ``document``.

    Args:
        document: The generated document (changed in place).
        classes: The msgspec Structs by schema name (see ``api.openapi_docs.struct_classes``).
    """
    schemas = (document.components.schemas if document.components else None) or {}
    cross_field = _cross_field_rules()
    for name, schema in schemas.items():
        if name in classes:
            _enforce_struct_limits(schema, classes[name])
            _declare_bounds(schema, classes[name])
        if name in cross_field:
            rule = cross_field[name]
            schema.one_of, schema.all_of = rule.one_of, rule.all_of
        for prop in CONDITION_PROPERTIES.get(name, ()):
            _type_condition(schema, prop, classes.get(name))
        for prop in KEY_PROPERTIES.get(name, ()):
            found = (schema.properties or {}).get(prop)
            if isinstance(found, Schema):
                found.pattern = KEY_REGEX
    for path, path_item in (document.paths or {}).items():
        for method in ("get", "put", "post", "patch", "delete"):
            operation = getattr(path_item, method)
            if operation is not None:
                _complete_operation(method, operation)
        _name_merge_patch_fields(path, path_item.patch)


#: ``/v1/{plural}/{key}`` → the model its merge patch changes.
_PATCHED = {f"/v1/{k.plural}/{{key}}": k.model for k in KINDS}


def _name_merge_patch_fields(path: str, operation: Operation | None) -> None:
    """A merge patch names fields of its kind (any value; ``null`` removes): no others."""
    model = _PATCHED.get(path)
    body = operation.request_body if operation is not None else None
    if model is None or body is None or isinstance(body, Reference):
        return
    for media in body.content.values():
        if isinstance(media.schema, Schema):
            fields = msgspec.structs.fields(model)
            media.schema.properties = {f.encode_name: Schema() for f in fields}
            media.schema.additional_properties = False


def _complete_operation(method: str, operation: Operation) -> None:
    for parameter in operation.parameters or ():
        if isinstance(parameter, Parameter) and parameter.param_in == "header":
            _not_null(parameter.schema)
    responses = operation.responses or {}
    if method == "delete" and "204" in responses and _empty(responses.get("200")):
        del responses["200"]
    for status, response in responses.items():
        if isinstance(response, OpenAPIResponse):
            _add_headers(status, response)


def _type_condition(schema: Schema, prop: str, cls: type | None) -> None:
    """A condition is an object (or ``null`` where the field defaults to ``None``)."""
    found = (schema.properties or {}).get(prop)
    if not isinstance(found, Schema) or cls is None:
        return
    field = next(f for f in msgspec.structs.fields(cls) if f.encode_name == prop)
    found.type = (
        [OpenAPIType.OBJECT, OpenAPIType.NULL] if field.default is None else OpenAPIType.OBJECT
    )


def _not_null(schema: Schema | Reference | None) -> None:
    """``oneOf: [X, null]`` → ``X`` (a header is a string or absent, never ``null``)."""
    if not isinstance(schema, Schema) or not schema.one_of:
        return
    kept = [s for s in schema.one_of if not (isinstance(s, Schema) and s.type == OpenAPIType.NULL)]
    if len(kept) == 1 and isinstance(kept[0], Schema):
        schema.one_of = None
        schema.type = kept[0].type


def _enforce_struct_limits(schema: Schema, cls: type) -> None:
    """Unknown fields refused, list-item and number limits: as msgspec decodes ``cls``."""
    info = msgspec.inspect.type_info(cls)
    if not isinstance(info, msgspec.inspect.StructType):
        return
    if info.forbid_unknown_fields and schema.additional_properties is None:
        schema.additional_properties = False
    for field in info.fields:
        item = _string_items(field.type)
        prop = (schema.properties or {}).get(field.encode_name)
        if isinstance(prop, Schema):
            _number_limits(prop, field.type)
        if item is None or not isinstance(prop, Schema):
            continue
        for array in (prop, *(prop.one_of or ())):
            if isinstance(array, Schema) and isinstance(array.items, Schema):
                array.items.min_length = item.min_length
                array.items.max_length = item.max_length
                array.items.pattern = item.pattern


def _declare_bounds(schema: Schema, cls: type) -> None:
    """The :class:`~abwb.config.validation.Bound` of each field, as JSON Schema keywords.

    The model checks its fields with the same objects, so what the document promises is
    what the validator enforces (``tests/api/test_openapi_contract.py`` probes each one).
    """
    for field, bound in bounds_of(cls).items():
        name, items = field.removesuffix("[]"), field.endswith("[]")
        prop = (schema.properties or {}).get(name)
        if not isinstance(prop, Schema):
            continue
        for member in (prop, *(prop.one_of or ())):
            target = member.items if items and isinstance(member, Schema) else member
            if not isinstance(target, Schema) or not isinstance(target.type, OpenAPIType):
                continue
            for keyword, value in bound.json_schema(target.type.value).items():
                setattr(target, _ATTRIBUTE[keyword], value)


#: JSON Schema keyword → attribute of Litestar's ``Schema``.
_ATTRIBUTE = {
    "minimum": "minimum",
    "maximum": "maximum",
    "exclusiveMinimum": "exclusive_minimum",
    "exclusiveMaximum": "exclusive_maximum",
    "minLength": "min_length",
    "maxLength": "max_length",
    "minItems": "min_items",
    "maxItems": "max_items",
    "minProperties": "min_properties",
    "maxProperties": "max_properties",
    "pattern": "pattern",
}


def _number_limits(prop: Schema, t: Any) -> None:
    """Litestar drops ``Meta(ge=...)`` of an optional number (``Annotated[int, ...] | None``)."""
    for member in t.types if isinstance(t, msgspec.inspect.UnionType) else (t,):
        if not isinstance(member, (msgspec.inspect.IntType, msgspec.inspect.FloatType)):
            continue
        for target in (prop, *(prop.one_of or ())):
            if isinstance(target, Schema) and target.type in (
                OpenAPIType.INTEGER,
                OpenAPIType.NUMBER,
            ):
                target.minimum = target.minimum if member.ge is None else member.ge
                target.exclusive_minimum = (
                    target.exclusive_minimum if member.gt is None else member.gt
                )
                target.maximum = target.maximum if member.le is None else member.le
                target.exclusive_maximum = (
                    target.exclusive_maximum if member.lt is None else member.lt
                )


def _string_items(t: Any) -> msgspec.inspect.StrType | None:
    """The item type of a (possibly optional) list of constrained strings."""
    for member in t.types if isinstance(t, msgspec.inspect.UnionType) else (t,):
        if isinstance(member, msgspec.inspect.ListType):
            item = member.item_type
            if isinstance(item, msgspec.inspect.Metadata):
                item = item.type
            if isinstance(item, msgspec.inspect.StrType):
                return item
    return None


def _add_headers(status: str, response: OpenAPIResponse) -> None:
    headers: dict[str, OpenAPIHeader | Reference] = dict(response.headers or {})
    if status.startswith("2") and _body_schema(response) in _WITH_ETAG:
        headers["ETag"] = _ETAG
    if status == "201":
        headers["Location"] = _LOCATION
    if status == "429":
        headers["Retry-After"] = _RETRY_AFTER
    if status == "503":
        headers["Retry-After"] = _RETRY_AFTER_IF_SHED
    response.headers = headers or None


def _body_schema(response: OpenAPIResponse) -> str | None:
    """The component name of a JSON response body (``None``: none, or not a reference)."""
    media = (response.content or {}).get("application/json")
    schema = media.schema if media is not None else None
    return schema.ref.rsplit("/", 1)[-1] if isinstance(schema, Reference) else None


def _empty(response: OpenAPIResponse | Reference | None) -> bool:
    """Whether ``response`` is Litestar's placeholder 200 (a JSON body of any shape)."""
    if not isinstance(response, OpenAPIResponse):
        return False
    media = (response.content or {}).get("application/json")
    schema = media.schema if media is not None else None
    return isinstance(schema, Schema) and schema.to_schema() == {}
