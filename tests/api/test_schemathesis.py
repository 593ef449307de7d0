"""Schemathesis against the app's own OpenAPI schema, in process (ASGI), on memory stores.

Every operation gets a bounded, derandomized set of generated requests — valid and
invalid ones — sent with an admin key. Checks: no 5xx, responses conform to the
schema (status codes, content types, bodies, headers), invalid data is rejected.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ensure_resource_availability,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
    use_after_free,
)

from abwb.access.keys import MemoryApiKeyStore
from abwb.config import ConfigBundle
from abwb.settings import ApiSettings, ExposureSettings, Settings
from abwb.store.memory import MemoryConfigStore, MemoryEventStore
from api import create_app

from .conftest import ADMIN, NOW, TEST_HOST, workspace

MAX_EXAMPLES = 10
#: Every schemathesis check but two: no 5xx; status codes, content types, headers and
#: bodies as documented; invalid data refused; a missing required header refused; an
#: undocumented method answers 405; a request without the key is refused where the
#: schema says auth is needed; a deleted object is gone and a created one is there.
#: Left out: ``positive_data_acceptance`` and ``object_level_authorization``.
#: Tried with ``positive_data_acceptance`` (after the schema gained key patterns,
#: ``additionalProperties: false``, list-item limits and non-null headers): what it still
#: flags is refused for rules a JSON schema cannot state — references to other objects
#: (``unknown metric 'latency'``, ``unknown flag``, ``unknown experiment`` in
#: ``/v1/assign``), cross-field rules (``/v1/validate``: either ``bundle`` or ``kind`` +
#: ``object``; variant weights summing to 1), limits in UTF-8 bytes rather than
#: characters (``unit_id``) and the condition grammar. Two more are not principled and
#: stay open: bounds the config models check in code but do not declare in
#: ``msgspec.Meta`` (``traffic_fraction`` in [0, 1], ``cuped_window_s`` > 0, non-empty
#: event ids), and ``If-Match: 0`` (the header generator ignores the documented
#: ``pattern``). Each answer is a 422 naming the field and the rule.
#: ``object_level_authorization``: abwb's scopes are per route, not per object, so there
#: are no per-user objects to probe.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    missing_required_header,
    unsupported_method,
    ignored_auth,
    use_after_free,
    ensure_resource_availability,
]


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
