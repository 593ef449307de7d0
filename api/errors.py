"""The ONE mapping from errors to RFC 9457 problem details (``application/problem+json``).

What belongs here: :func:`problem_for`, which turns any exception reaching the edge of
the service (an :class:`~abwb.errors.AbwbError`, a Litestar HTTP or validation error,
or an unexpected bug) into a status code and a :class:`ProblemDetails` body, and the
exception handlers that install it. Handlers never build error responses themselves.

=========================  ======  ==========================================
error                      status  ``type``
=========================  ======  ==========================================
malformed JSON             400     ``urn:abwb:problem:malformed-body``
bad query/path parameter   400     ``urn:abwb:problem:invalid-parameter``
body fails validation      422     ``urn:abwb:problem:invalid-input``
missing credentials        401     ``urn:abwb:problem:unauthenticated``
scope not granted          403     ``urn:abwb:problem:forbidden``
``NotFound``               404     ``urn:abwb:problem:not-found``
``Conflict``               409     ``urn:abwb:problem:conflict``
``VersionConflict``        412     ``urn:abwb:problem:stale-version``
body over the size limit   413     ``urn:abwb:problem:body-too-large``
rate limit exceeded        429     ``urn:abwb:problem:rate-limited``
``StorageError``           503     ``urn:abwb:problem:storage-unavailable``
``Overloaded``             503     ``urn:abwb:problem:overloaded`` (with ``Retry-After``)
anything else              500     ``urn:abwb:problem:internal`` (no details leak)
=========================  ======  ==========================================
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from abwb.errors import (
    AbwbError,
    CacheError,
    Conflict,
    InvalidInput,
    NotFound,
    Problem,
    StorageError,
    VersionConflict,
)

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "ErrorItem",
    "Overloaded",
    "PreconditionRequired",
    "ProblemDetails",
    "answer_for",
    "document_problems",
    "exception_handlers",
    "problem_for",
    "problem_response",
]

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
_TYPE = "urn:abwb:problem:"
_AT = re.compile(r" - at `\$(?P<path>[^`]*)`")


class ErrorItem(msgspec.Struct, frozen=True):
    """One problem: where (a path in the body/parameters) and what is wrong.

    Attributes:
        path: Where: a dotted path in the body, or a parameter name.
        message: What is wrong, and what was expected.
    """

    path: str
    message: str


class ProblemDetails(msgspec.Struct, frozen=True, kw_only=True):
    """An RFC 9457 problem details body, with abwb's ``errors`` extension.

    Attributes:
        type: Problem type URN (`urn:abwb:problem:invalid-input`...).
        title: Short summary of the problem type.
        status: The HTTP status code.
        detail: Explanation of this occurrence.
        errors: Every problem, each `{path, message}`.
        instance: The request path.
    """

    type: str
    title: str
    status: int
    detail: str
    errors: list[ErrorItem] = msgspec.field(default_factory=list)
    instance: str | None = None


class PreconditionRequired(AbwbError):
    """A conditional request was required (``If-Match``) but not sent (428)."""


class Overloaded(AbwbError):
    """Too many requests in flight: shed before serving (503 + ``Retry-After``).

    Args:
        message: What is over which limit (and the setting that sets it).
        retry_after_s: Seconds the client should wait before retrying.
    """

    def __init__(self, message: str, *, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


_HTTP_TYPES: dict[int, tuple[str, str]] = {
    400: ("malformed-body", "Malformed request"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    412: ("stale-version", "Precondition failed"),
    413: ("body-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    428: ("precondition-required", "Precondition required"),
    429: ("rate-limited", "Too many requests"),
    503: ("storage-unavailable", "Service unavailable"),
}


def _problem(
    status: int, slug: str, title: str, detail: str, errors: list[ErrorItem]
) -> ProblemDetails:
    return ProblemDetails(
        type=_TYPE + slug, title=title, status=status, detail=detail, errors=errors
    )


def _items(problems: list[Problem], prefix: str = "") -> list[ErrorItem]:
    return [ErrorItem(_join(prefix, p.path), p.message) for p in problems]


def _join(prefix: str, path: str) -> str:
    if not prefix:
        return path
    if not path:
        return prefix
    return f"{prefix}{path}" if path.startswith("[") else f"{prefix}.{path}"


def _abwb_problem(exc: AbwbError) -> ProblemDetails:
    # Order matters: VersionConflict is a Conflict.
    if isinstance(exc, InvalidInput):
        return _problem(
            422,
            "invalid-input",
            "Invalid input",
            f"{len(exc.problems)} problem(s) found",
            _items(exc.problems),
        )
    if isinstance(exc, NotFound):
        return _problem(404, "not-found", "Not found", str(exc), [])
    if isinstance(exc, VersionConflict):
        return _problem(412, "stale-version", "Precondition failed", str(exc), [])
    if isinstance(exc, Conflict):
        return _problem(
            409, "conflict", "Conflict", str(exc), [ErrorItem("", r) for r in exc.reasons]
        )
    if isinstance(exc, Overloaded):
        return _problem(503, "overloaded", "Overloaded", str(exc), [])
    if isinstance(exc, PreconditionRequired):
        return _problem(428, "precondition-required", "Precondition required", str(exc), [])
    if isinstance(exc, StorageError):
        return _problem(
            503,
            "storage-unavailable",
            "Storage unavailable",
            # the cause (driver message, host, database) goes to the log, never to clients
            "the store is unavailable, retry later",
            [],
        )
    if isinstance(exc, CacheError):
        return _problem(
            503, "cache-unavailable", "Cache unavailable", "the cache is unavailable", []
        )
    return _problem(500, "internal", "Internal error", "unexpected error", [])


def _validation_problem(exc: ValidationException) -> ProblemDetails:
    """Re-shape Litestar's (msgspec) validation error; recover abwb's own problem list."""
    cause = exc.__cause__
    inner = cause.__cause__ if cause is not None else None
    if isinstance(inner, InvalidInput):
        match = _AT.search(str(cause))
        where = match.group("path").lstrip(".") if match else ""
        where = where.removeprefix("data").lstrip(".")
        return _problem(
            422,
            "invalid-input",
            "Invalid input",
            f"{len(inner.problems)} problem(s) found",
            _items(inner.problems, where),
        )
    items: list[ErrorItem] = []
    in_body = False
    for raw in exc.extra if isinstance(exc.extra, list) else []:
        message = str(raw.get("message", "invalid value")) if isinstance(raw, dict) else str(raw)
        key = str(raw.get("key", "")) if isinstance(raw, dict) else ""
        source = raw.get("source") if isinstance(raw, dict) else None
        if source == "body" or key == "data":
            in_body = True
            if key == "data" and message == "'data'":  # Litestar's way of saying "no body"
                message = "a JSON request body is required"
            key = "" if key == "data" else key
        items.append(ErrorItem(key, message))
    if in_body or not items:
        return _problem(
            422,
            "invalid-input",
            "Invalid input",
            f"{len(items) or 1} problem(s) found in the request body",
            items,
        )
    return _problem(
        400, "invalid-parameter", "Invalid parameter", f"{len(items)} invalid parameter(s)", items
    )


def problem_for(exc: Exception) -> ProblemDetails:
    """The problem details (status included) for any exception reaching the service edge.

    Args:
        exc: The exception.

    Returns:
        The body to send; its ``status`` is the HTTP status code.

    Examples:
        >>> from abwb.errors import NotFound
        >>> p = problem_for(NotFound("experiment 'x' does not exist"))
        >>> p.status, p.type
        (404, 'urn:abwb:problem:not-found')
    """
    if isinstance(exc, AbwbError):
        return _abwb_problem(exc)
    if isinstance(exc, ValidationException):
        return _validation_problem(exc)
    if isinstance(exc, HTTPException):
        status = exc.status_code
        slug, title = _HTTP_TYPES.get(status, ("http-error", "HTTP error"))
        detail = exc.detail or title
        if status == 400 and not exc.extra:
            detail = f"the request body is not valid JSON: {detail}"
        return _problem(status, slug, title, detail, [])
    return _problem(500, "internal", "Internal error", "unexpected error; it has been logged", [])


def _spec(description: str) -> Any:
    from litestar.openapi.datastructures import ResponseSpec

    return ResponseSpec(
        data_container=ProblemDetails,
        generate_examples=False,
        description=description,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def document_problems(handler: Any) -> Any:
    """Declare in ``handler``'s OpenAPI the problem responses it can answer.

    Which ones follows from what the route is: scoped routes can answer 401, 403 and
    429; routes with a body 400, 413 and 422; routes with parameters 400 (and 404 for
    path parameters); admin writes 409, 412, 428; every scoped route 503 (store down).
    Responses the handler already declares are kept.

    Args:
        handler: A Litestar HTTP route handler (modified in place).

    Returns:
        The handler.
    """
    methods = set(handler.http_methods)
    scope = handler.opt.get("scope")
    params = set(handler.parsed_fn_signature.parameters) - {"request", "data"}
    in_path = {m for p in handler.paths for m in re.findall(r"\{(\w+)", p)}
    codes: dict[int, str] = {}
    if scope is not None:
        codes |= {
            401: "No API key, or an unknown or revoked one",
            403: "The API key lacks the route's scope",
            429: "The API key's rate limit is exhausted (see Retry-After)",
            503: "A store is unavailable; retry later",
        }
    if "data" in handler.parsed_fn_signature.parameters:
        codes |= {
            400: "Malformed JSON body or invalid parameter",
            413: "Request body too large",
            415: "The body is not sent as application/json",
            422: "The body fails validation (errors list the fields)",
        }
    if params - in_path:
        codes.setdefault(400, "Invalid query or header parameter")
        codes.setdefault(422, "A parameter's value is invalid (errors name it)")
    if in_path:
        codes[404] = "No such object"
    if scope == "admin" and methods & {"POST", "PUT", "PATCH", "DELETE"}:
        codes |= {
            409: "Refused by a rule or a conflicting object (errors explain)",
            412: "If-Match names a stale version",
            428: "If-Match is required",
        }
    codes.setdefault(400, "Host is not an allowed name (ABWB_API_ALLOWED_HOSTS)")
    if scope is None:
        handler.security = [{}]  # public: no key needed
    responses = dict(handler.responses or {})
    for code, description in codes.items():
        responses.setdefault(code, _spec(description))
    handler.responses = responses
    return handler


def problem_response(
    problem: ProblemDetails, headers: dict[str, str] | None = None
) -> Response[Any]:
    """A ``application/problem+json`` response carrying ``problem``."""
    return Response(
        content=msgspec.json.encode(problem),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def answer_for(
    exc: Exception, method: str, path: str
) -> tuple[ProblemDetails, dict[str, str] | None]:
    """The problem (``instance`` set) and extra headers answering ``exc``; logs what needs it.

    Unexpected errors are logged with their traceback, 5xx answers as a warning.

    Args:
        exc: The exception that reached the edge.
        method: The request's method (for the log).
        path: The request's path (the problem's ``instance``).

    Returns:
        ``(problem, headers)``; headers such as ``Retry-After`` or ``WWW-Authenticate``.
    """
    problem = problem_for(exc)
    if not isinstance(exc, AbwbError | HTTPException):
        log.error("unhandled error on %s %s", method, path, exc_info=exc)
    elif problem.status >= 500 and not isinstance(exc, Overloaded):
        # e.g. a store outage (503) or a client that hung up mid-body: no traceback needed;
        # a shed request is counted, not logged (under overload that would be a flood)
        log.warning("%s %s answered %d: %s", method, path, problem.status, exc)
    headers: dict[str, str] | None = None
    if isinstance(exc, HTTPException) and exc.headers:
        headers = dict(exc.headers)
    elif isinstance(exc, Overloaded):
        headers = {"Retry-After": str(exc.retry_after_s)}
    return msgspec.structs.replace(problem, instance=path), headers


def _handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    problem, headers = answer_for(exc, request.method, request.url.path)
    return problem_response(problem, headers=headers)


#: Install with ``Litestar(exception_handlers=exception_handlers)``.
exception_handlers: dict[
    int | type[Exception], Callable[[Request[Any, Any, Any], Any], Response[Any]]
] = {
    AbwbError: _handle,
    HTTPException: _handle,
    Exception: _handle,
}
