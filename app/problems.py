"""RFC 9457 problem+json: the `Problem` model, the exception handlers, and the OpenAPI error
responses every router documents."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Scope

from app.db.failures import DRIVER_ERRORS, Failure, classify
from app.errors import (
    AppError,
    FieldProblem,
    MalformedJson,
    PrimaryUnavailable,
    ServiceUnavailable,
    ValidationProblem,
)

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("trackr.errors")


class Problem(BaseModel):
    """RFC 9457 problem details, as every 4xx/5xx response body."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldProblem] | None = Field(default=None)
    errors_omitted: int | None = Field(
        default=None, description="Field problems left out of `errors` (MAX_FIELD_PROBLEMS)"
    )


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    type_: str = "about:blank",
    errors: Sequence[FieldProblem] | None = None,
    headers: Mapping[str, str] | None = None,
    instance: str | None = None,
    max_errors: int | None = None,
) -> Response:
    """The problem as a response; past `max_errors` field problems only their count is sent
    (thousands of bad parameters must not make a megabyte of errors)."""
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    if errors:
        shown = errors if max_errors is None else errors[:max_errors]
        body["errors"] = [e.model_dump(exclude_none=True) for e in shown]
        if len(shown) < len(errors):
            body["errors_omitted"] = len(errors) - len(shown)
    return Response(
        orjson.dumps(body), status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON
    )


def render(exc: AppError, instance: str | None = None, max_errors: int | None = None) -> Response:
    return problem_response(
        exc.status,
        exc.title,
        exc.detail,
        type_=exc.type_uri,
        errors=exc.errors,
        headers=exc.headers,
        instance=instance,
        max_errors=max_errors,
    )


def _render_for(request: Request, exc: AppError) -> Response:
    """`exc` as this app renders it: at its path, with its cap on field problems."""
    cap: int = request.app.state.max_field_problems
    return render(exc, instance=request.url.path, max_errors=cap)


def _json_pointer(loc: Sequence[int | str]) -> str:
    return "#/" + "/".join(str(part).replace("~", "~0").replace("/", "~1") for part in loc)


def validation_problems(raw: Sequence[Any]) -> tuple[list[FieldProblem], bool]:
    """Pydantic/FastAPI errors → FieldProblems; second value: the body was not valid JSON."""
    problems: list[FieldProblem] = []
    malformed = False
    for err in raw:
        loc = list(err.get("loc", ()))
        kind = str(err.get("type", "invalid"))
        message = str(err.get("msg", "invalid value"))
        if kind == "json_invalid":
            malformed = True
            message = f"{message}: {err.get('ctx', {}).get('error', '')}".rstrip(": ")
        where = loc[0] if loc else "body"
        if where == "body":
            problems.append(FieldProblem(detail=message, type=kind, pointer=_json_pointer(loc[1:])))
        else:
            name = ".".join(str(p) for p in loc[1:]) or str(where)
            problems.append(FieldProblem(detail=message, type=kind, parameter=name))
    return problems, malformed


async def _app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return _render_for(request, exc)


async def _request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems, malformed = validation_problems(exc.errors())
    if malformed:
        error: AppError = MalformedJson("The request body is not valid JSON.", errors=problems)
    else:
        error = ValidationProblem("One or more fields are invalid; see `errors`.", errors=problems)
    return _render_for(request, error)


def allowed_methods(app: Any, scope: Scope) -> list[str]:
    """Every method some route serves at this path (Starlette's 405 names one route's only),
    with HEAD wherever GET is served and OPTIONS (app.methods answers both); empty for a
    path no route serves."""
    methods: set[str] = set()
    for route in iter_route_contexts(app.routes):
        match, _ = route.matches(scope)
        if match is not Match.NONE and route.methods:
            methods |= route.methods
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods | {"OPTIONS"}) if methods else []


def unreadable_body(cause: BaseException | None) -> AppError:
    """Why a body could not be read, for FastAPI's generic 400 "error parsing the body"."""
    if isinstance(cause, AppError):  # raised while receiving it, e.g. too large
        return cause
    if isinstance(cause, RecursionError):
        detail = "The JSON body is nested too deeply to be read."
    elif isinstance(cause, UnicodeDecodeError):
        detail = f"The request body is not valid UTF-8 (byte {cause.start} is not)."
    elif isinstance(cause, ValueError) and "digits" in str(cause):
        detail = "A number in the JSON body has too many digits to be read."
    else:
        detail = "The request body could not be read as JSON."
    return MalformedJson(detail)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == HTTPStatus.BAD_REQUEST and exc.__cause__ is not None:
        return _render_for(request, unreadable_body(exc.__cause__))
    phrase = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
    headers = dict(exc.headers or {})
    if exc.status_code == HTTPStatus.METHOD_NOT_ALLOWED:
        headers["Allow"] = ", ".join(allowed_methods(request.app, request.scope))
    return problem_response(
        exc.status_code, phrase, detail, headers=headers, instance=request.url.path
    )


async def _database_error(request: Request, exc: Exception) -> Response:
    kind = classify(exc)
    if kind is Failure.BUG:
        return await _unhandled(request, exc)
    log.warning("database unavailable (%s): %s: %s", kind, exc.__class__.__name__, exc)
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return _render_for(
            request, ServiceUnavailable("The database is unavailable; retry shortly.")
        )
    # Writes run on the primary alone: their database failure is the writer's.
    unavailable = PrimaryUnavailable("The primary database is unavailable; retry shortly.")
    return _render_for(request, unavailable)


async def _unhandled(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        500, "Internal server error", "An unexpected error occurred.", instance=request.url.path
    )


def install_error_handlers(app: FastAPI, max_field_problems: int = 20) -> None:
    app.state.max_field_problems = max_field_problems
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    for error_type in DRIVER_ERRORS:
        app.add_exception_handler(error_type, _database_error)
    app.add_exception_handler(Exception, _unhandled)


# -- OpenAPI ---------------------------------------------------------------------------------
DESCRIPTIONS = {
    400: "Bad request: malformed JSON, an invalid consistency token or cursor",
    401: "No valid bearer token",
    403: "The token lacks the scope",
    404: "Not found",
    409: "A request with this Idempotency-Key is still running",
    412: "If-Match names another version",
    413: "The request body is too large",
    422: "Invalid parameters or body; `errors` lists each field",
    429: "Over the rate limit (RATE_LIMIT_READS / RATE_LIMIT_WRITES, per token subject or "
    "client address); retry after `Retry-After` seconds",
    503: "The database cannot serve this now; retry after `Retry-After` seconds. "
    "`/problems/primary-unavailable`: no writer (a failover is under way; every site says "
    "the same); `/problems/site-cut-off`: this site cannot reach the others (another site "
    "serves)",
}
HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer realm"}},
    429: {
        "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"},
        "RateLimit-Policy": {
            "schema": {"type": "string"},
            "description": 'The limit: `"reads";q=600;w=60` (draft-ietf-httpapi-ratelimit-headers)',
        },
        "RateLimit": {
            "schema": {"type": "string"},
            "description": 'What is left: `"reads";r=0;t=12` (remaining, seconds to reset)',
        },
    },
    503: {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
}


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, each a `Problem` as problem+json."""
    responses: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        response: dict[str, Any] = {"model": Problem, "description": DESCRIPTIONS[code]}
        if code in HEADERS:
            response["headers"] = HEADERS[code]
        responses[code] = response
    return responses


def _problems_as_problem_json(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI files every response model under application/json; ours are problem+json."""
    problem_ref = "#/components/schemas/Problem"
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                json_body = content.get("application/json", {})
                if json_body.get("schema", {}).get("$ref") == problem_ref:
                    content[PROBLEM_JSON] = content.pop("application/json")
    return schema


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = _problems_as_problem_json(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
