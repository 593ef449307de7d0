"""Schemathesis against the app's own OpenAPI schema, in process (ASGI), on memory stores.

Every operation gets a bounded, derandomized set of generated requests — valid and
invalid ones — sent with an admin key, and every schemathesis check: no 5xx; status
codes, content types, headers and bodies as documented; schema-valid data accepted and
invalid data refused; a missing required header refused; an undocumented method answers
405; a request without the key is refused where the schema says auth is needed; a
deleted object is gone and a created one is there.

What the schema states. Every bound the config models check is declared on the field
(``abwb.config.validation.Bound``) and copied into the document; so are the cross-field
rules JSON Schema can express (a flag rule's one outcome, a metric kind's sources,
``/v1/validate``'s ``bundle`` xor ``kind`` + ``object``), key patterns, list limits and
the ``If-Match`` grammar. ``test_openapi_contract.py`` probes each bound against the server.

What it cannot state, and how this test supplies it (``_semantic_body``, a ``map_case``
hook on positive cases only; negative cases go out as generated):

- **References to other objects** (metric, flag, experiment, layer, holdout and segment
  keys; a rollout's variation). Whether ``latency`` names a metric depends on the
  store, not on the document. Such a body is answered 422 naming the field ("unknown
  metric 'latency'"), and stays 422: it is what clients already handle, what peers do
  for a body that fails validation against server state (GitHub's "Validation Failed",
  JSON:API and Kubernetes' ``Invalid``), and 409 would say "retry after resolving a
  conflict with this resource", which is not what a typo in a key needs. So the hook
  sets reference fields to objects of the test workspace, like a client naming what
  exists.
- **Arithmetic across items**: variant and split weights summing to 1, exactly one
  control, unique variant keys, bucket ranges tiling 10,000, a window end after its
  start, rollout steps that never decrease. The hook puts in a valid variant list.
- **The condition grammar** (recursive, refers to segments): the document says a
  condition is an object; the hook sends a valid one.
- **Byte limits**: ``unit_id`` is at most 256 bytes of UTF-8 (``maxLength`` counts
  characters, so the schema's 256 is necessary, not sufficient): the hook cuts ids to
  their byte limit.
- **Merge patches** are partial objects of the kind; the hook sends a field the kind has.

A schemathesis limitation, not ours: its coverage phase generates header values from
letters and digits only, so for ``If-Match`` (every valid value holds ``"`` or ``*``)
it has no valid value and leaves its invalid seed (``0``) in cases it labels positive.
``_headers_conform`` drops those cases (the fuzzing phase generates valid ETags, and
the negative cases still send ``0``, which must be refused, and is, with a 422).

``object_level_authorization`` runs but has nothing to probe: abwb's scopes are per
route, not per object, and one identity is configured.
"""

from __future__ import annotations

import re
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS as CHECK_REGISTRY
from schemathesis.checks import load_all_checks
from schemathesis.config._checks import (
    MISSING_REQUIRED_HEADER_EXPECTED_STATUSES,
    POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES,
    MissingRequiredHeaderConfig,
    PositiveDataAcceptanceConfig,
)

from abwb.access.keys import MemoryApiKeyStore
from abwb.assignment.hashing import MAX_UNIT_ID_BYTES
from abwb.config import ConfigBundle
from abwb.events.models import MAX_ID_BYTES, MAX_UNIT_TYPE_BYTES
from abwb.settings import ApiSettings, ExposureSettings, Settings
from abwb.store.memory import MemoryConfigStore, MemoryEventStore
from api import create_app
from api.schemas import MAX_EVENT_ROWS

from .conftest import ADMIN, NOW, TEST_HOST, variants, workspace

MAX_EXAMPLES = 10
load_all_checks()
#: Every check schemathesis has.
CHECKS = CHECK_REGISTRY.get_all()

_CONDITION = {"attr": "country", "op": "eq", "value": "US"}
#: Per body schema: the fields whose validity JSON Schema cannot state, with values valid
#: in the test workspace (references name its objects; lists satisfy their arithmetic).
SEMANTIC_FIELDS: dict[str, dict[str, Any]] = {
    "Experiment": {
        "variants": variants("control", "treatment"),
        "allocation": None,
        "targeting": _CONDITION,
        "layer": None,
        "holdout": None,
        "flag_key": None,
        "overrides": {},
        "metrics": {"primary": ["buy"]},
        "schedule": {},
        # created as draft (the component is shared with responses, where any status is)
        "status": "draft",
    },
    "Flag": {
        "type": "bool",
        "variations": {"on": True, "off": False},
        "default_variation": "off",
        "off_variation": "off",
        "rules": [{"condition": _CONDITION, "variation": "on"}],
        "prerequisites": [],
    },
    "Segment": {"condition": _CONDITION},
    "Rollout": {
        "flag_key": "new-checkout",
        "variation": "on",
        "steps": [{"traffic_fraction": 0.5}, {"traffic_fraction": 1.0}],
        "guardrails": ["buy"],
        "status": "draft",
        "started_at": None,
        "step_index": 0,
        "step_started_at": None,
        "paused_at": None,
    },
    "MetricDefinition": {"window_start_s": 0.0, "window_end_s": None},
    "TargetingBody": {"targeting": _CONDITION},
    "AssignRequest": {"experiments": ["exp-a"]},
    "BulkAssignRequest": {"experiments": ["exp-a"]},
}
#: Merge patches (``PATCH /v1/{plural}/{key}``): a field every kind has.
_PATCH = {"name": "renamed"}
#: UTF-8 byte limits of ids (:mod:`abwb.events.models`), by property name.
_BYTE_LIMITS = {
    "unit_id": MAX_UNIT_ID_BYTES,
    "unit_type": MAX_UNIT_TYPE_BYTES,
    "event_id": MAX_ID_BYTES,
    "experiment": MAX_ID_BYTES,
    "variant": MAX_ID_BYTES,
    "exposure_id": MAX_ID_BYTES,
    "name": MAX_ID_BYTES,  # an event's (other names have no limit: cutting keeps them valid)
}


def _app() -> Any:
    keys = MemoryApiKeyStore()
    keys.add("ops", ADMIN, ["admin"])
    return create_app(
        Settings(),
        config_store=MemoryConfigStore(ConfigBundle.from_data(workspace())),
        event_store=MemoryEventStore(),
        api_keys=keys,
        # no polling, so no freshness to check: /ready must not age into a 503 mid-run
        options=ApiSettings(
            allowed_hosts=(TEST_HOST, "testserver"),  # schemathesis's ASGI client
            snapshot_poll_s=0,
            ready_max_snapshot_age_s=0,
            exposures=ExposureSettings(flush_interval_s=0.05),
        ),
        clock=lambda: NOW,
    )


schema = schemathesis.openapi.from_asgi("/schema/openapi.json", _app())
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    max_examples=MAX_EXAMPLES,
    deterministic=True,
)
#: A PATCH without If-Match answers 428 Precondition Required (RFC 6585: "the origin server
#: requires the request to be conditional"), the status for exactly this header.
schema.config.checks.missing_required_header = MissingRequiredHeaderConfig(
    expected_statuses=[*MISSING_REQUIRED_HEADER_EXPECTED_STATUSES, "428"]
)
#: A well-formed If-Match naming another version than the stored one answers 412
#: Precondition Failed (RFC 9110 13.1.1): schema-valid, and correctly refused.
schema.config.checks.positive_data_acceptance = PositiveDataAcceptanceConfig(
    expected_statuses=[*POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES, "412"]
)


def _positive(case: Any) -> bool:
    return case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE


def _body_schema(case: Any) -> str | None:
    """The component name of the case's JSON body (``PATCH`` for a merge patch)."""
    if case.method == "PATCH":
        return "PATCH"
    operation = schema.raw_schema["paths"][case.path].get(case.method.lower(), {})
    media = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    ref = media.get("schema", {}).get("$ref", "")
    return str(ref.rsplit("/", 1)[-1]) if ref else None


def _within_bytes(value: Any) -> Any:
    """``value`` with every id cut to its UTF-8 byte limit.

    Also spells integral numbers without a fraction: JSON Schema counts ``1.0`` as an
    ``integer``, abwb's strict decoder wants ``1`` (what every JSON encoder writes for an
    integer); a ``number`` field takes either.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_within_bytes(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for name, item in value.items():
        limit = _BYTE_LIMITS.get(name)
        if limit is not None and isinstance(item, str):
            item = item.encode()[:limit].decode(errors="ignore") or "u"
        out[name] = _within_bytes(item) if limit is None else item
    return out


def _semantic_body(name: str | None, body: Any) -> Any:
    """``body`` with the fields JSON Schema cannot judge set to values valid here."""
    if name == "PATCH":
        return _PATCH
    if not isinstance(body, dict):
        return body
    if name == "ValidateRequest":
        if body.get("object") is not None:
            return {"kind": "segment", "object": {"key": "us", **SEMANTIC_FIELDS["Segment"]}}
        return {"bundle": {}}
    fields = SEMANTIC_FIELDS.get(name or "", {})
    fixed: dict[str, Any] = {k: fields.get(k, v) for k, v in body.items()}
    if name == "EventsRequest":  # at most MAX_EVENT_ROWS rows in both lists together
        room = MAX_EVENT_ROWS - len(fixed.get("exposures", []))
        fixed["events"] = fixed.get("events", [])[: max(room, 0)]
    return _within_bytes(fixed)


@schema.hook
def map_case(context: Any, case: Any) -> Any:
    """Positive cases: the semantic rules supplied (see the module docstring)."""
    if _positive(case) and case.body is not None:
        case.body = _semantic_body(_body_schema(case), case.body)
    return case


@schema.hook
def before_add_examples(context: Any, examples: list[Any]) -> None:
    """The documented examples name objects of a real workspace: supply this one's."""
    for case in examples:
        map_case(context, case)


@schema.hook
def filter_case(context: Any, case: Any) -> bool:
    """Drop positive cases whose headers break their declared pattern (see the docstring)."""
    return not _positive(case) or _headers_conform(case)


def _headers_conform(case: Any) -> bool:
    for parameter in case.operation.headers:
        pattern = parameter.definition.get("schema", {}).get("pattern")
        value = (case.headers or {}).get(parameter.name)
        if pattern and isinstance(value, str) and not re.search(pattern, value):
            return False
    return True


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case: Any) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN}"}, checks=CHECKS)
