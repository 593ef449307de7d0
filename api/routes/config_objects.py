"""CRUD routes for every kind of config object, generated from one typed template.

What belongs here: :func:`object_routes`, which builds list / create / get / patch /
delete handlers for a kind (experiments, segments, layers, holdouts, metrics, flags,
rollouts) so that every kind behaves the same: ``ETag`` on reads and writes,
``If-Match`` required on ``PATCH`` (412 when stale, 428 when missing), JSON merge
patches, every problem with its path, and the audit reason as a ``reason`` query
parameter. Experiment-only routes (targeting, status) live in
:mod:`api.routes.experiments`.

This module deliberately does not use ``from __future__ import annotations``: the
handler annotations name the model class of each kind and must be real objects when
Litestar inspects them.
"""

from typing import Annotated, Any

from litestar import Request, Response, delete, get, patch, post
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromQuery, JSONBody, QueryParameter

from abwb.config.kinds import KINDS
from abwb.store.protocol import KIND_MODELS
from api.routes.context import (
    ConfigKey,
    IfMatch,
    RequiredIfMatch,
    actor_of,
    etag,
    expected_version,
    in_thread,
    services_of,
)
from api.schemas import Page

__all__ = ["PLURALS", "object_routes"]

#: URL segment of each kind (from the kinds table).
PLURALS: dict[str, str] = {k.name: k.plural for k in KINDS}

Limit = Annotated[int, QueryParameter(ge=1, le=1000, description="Page size (1-1000).")]
Offset = Annotated[int, QueryParameter(ge=0, le=10_000_000, description="Items to skip.")]
Reason = Annotated[
    str, QueryParameter(max_length=2000, description="Why (recorded in the audit log).")
]
Key = ConfigKey


def with_etag(obj: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Any:
    """A response carrying ``obj`` and its ``ETag``."""
    return Response(
        obj, status_code=status_code, headers={"ETag": etag(obj.version), **(headers or {})}
    )


async def _all_matching(
    request: Request[Any, Any, Any],
    kind: str,
    status: str | None,
    owner: str | None,
    flag: str | None,
) -> list[Any]:
    """Every object of ``kind`` passing the filters (store pages read until exhausted)."""
    store = services_of(request).config_store
    found: list[Any] = []
    offset = 0
    while True:
        page = await in_thread(store.list, kind, status=status, limit=1000, offset=offset)
        found.extend(
            o
            for o in page
            if (owner is None or getattr(o, "owner", None) == owner)
            and (flag is None or getattr(o, "flag_key", None) == flag)
        )
        if len(page) < 1000:
            return found
        offset += 1000


def object_routes(kind: str) -> list[HTTPRouteHandler]:
    """The five CRUD handlers of ``kind`` under ``/v1/{plural}``."""
    model: Any = KIND_MODELS[kind]
    plural = PLURALS[kind]
    base = f"/v1/{plural}"
    a_kind = f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"
    delete_text = (
        "204 when deleted; an experiment that has run (running, paused or stopped, now or "
        "in its audit history) is archived instead (200 with the archived experiment). "
        if kind == "experiment"
        else "204 when deleted. "
    ) + "409 when other objects refer to it (the references are listed)."
    tags = [plural]
    has_status = "status" in model.__struct_fields__
    is_experiment = kind == "experiment"

    @get(
        base,
        opt={"scope": "read"},
        operation_id=f"list_{plural}",
        tags=tags,
        summary=f"List {plural}",
        description=f"{plural.capitalize()} ordered by key"
        + (", filtered by status/owner/flag" if is_experiment else ""),
    )
    async def list_objects(
        request: Request[Any, Any, Any],
        status: FromQuery[str | None] = None,
        owner: FromQuery[str | None] = None,
        flag: FromQuery[str | None] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Page:
        if not has_status:
            status = None
        if owner is not None or flag is not None:
            matching = await _all_matching(request, kind, status, owner, flag)
            items = matching[offset : offset + limit]
        else:
            store = services_of(request).config_store
            items = await in_thread(store.list, kind, status=status, limit=limit, offset=offset)
        return Page(items=items, limit=limit, offset=offset, count=len(items))

    @post(
        base,
        opt={"scope": "admin"},
        operation_id=f"create_{kind}",
        tags=tags,
        summary=f"Create {a_kind}",
        description="Stored as version 1"
        + (" and status 'draft'" if is_experiment else "")
        + "; every problem is reported with its path (422); 409 if the key exists.",
    )
    async def create_object(
        request: Request[Any, Any, Any], data: JSONBody[model], reason: Reason = ""
    ) -> Response[model]:
        created = await in_thread(
            services_of(request).changes.create, kind, data, actor=actor_of(request), reason=reason
        )
        return with_etag(created, 201, {"Location": f"{base}/{created.key}"})  # type: ignore[no-any-return]

    @get(
        base + "/{key:str}",
        opt={"scope": "read"},
        operation_id=f"get_{kind}",
        tags=tags,
        summary=f"Get {a_kind}",
        description="The object with its ETag (its version).",
    )
    async def get_object(request: Request[Any, Any, Any], key: Key) -> Response[model]:
        found = await in_thread(services_of(request).config_store.get, kind, key)
        return with_etag(found)  # type: ignore[no-any-return]

    @patch(
        base + "/{key:str}",
        opt={"scope": "admin"},
        operation_id=f"patch_{kind}",
        tags=tags,
        summary=f"Change {a_kind} (JSON merge patch)",
        description="Requires If-Match with the ETag from a GET: 412 when the object "
        "changed since, 428 when the header is missing. `null` removes a field.",
    )
    async def patch_object(
        request: Request[Any, Any, Any],
        key: Key,
        data: JSONBody[dict[str, Any]],
        if_match: RequiredIfMatch = None,
        reason: Reason = "",
    ) -> Response[model]:
        version = expected_version(if_match, required=True)
        services = services_of(request)
        current_version = version
        if current_version is None:  # If-Match: * — whatever is stored now
            current_version = (await in_thread(services.config_store.get, kind, key)).version
        updated = await in_thread(
            services.changes.update,
            kind,
            key,
            data,
            expected_version=current_version,
            actor=actor_of(request),
            reason=reason,
        )
        return with_etag(updated)  # type: ignore[no-any-return]

    @delete(
        base + "/{key:str}",
        opt={"scope": "admin"},
        operation_id=f"delete_{kind}",
        tags=tags,
        status_code=200,
        summary=f"Delete {a_kind}",
        description=delete_text,
        # only an experiment answers 200 (archived instead of deleted); for the other kinds
        # api.openapi_contract drops the placeholder 200 Litestar documents
        responses={
            204: ResponseSpec(data_container=None, description="Deleted (no body)"),
            **(
                {200: ResponseSpec(data_container=model, description="Archived (it has run)")}
                if is_experiment
                else {}
            ),
        },
    )
    async def delete_object(
        request: Request[Any, Any, Any], key: Key, if_match: IfMatch = None, reason: Reason = ""
    ) -> Response[Any]:
        remaining = await in_thread(
            services_of(request).changes.delete,
            kind,
            key,
            expected_version=expected_version(if_match, required=False),
            actor=actor_of(request),
            reason=reason,
        )
        if remaining is None:
            return Response(content=b"", status_code=204)
        return with_etag(remaining)  # type: ignore[no-any-return]

    return [list_objects, create_object, get_object, patch_object, delete_object]
