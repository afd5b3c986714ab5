"""The AppError hierarchy and the handlers that render every error as RFC 9457 problem+json."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import asyncpg
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, EmulatedDBAPIException
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("trackr.errors")


class FieldProblem(BaseModel):
    """One field-level problem; `pointer` (RFC 6901) for bodies, `parameter` for query/headers."""

    detail: str
    type: str
    pointer: str | None = None
    parameter: str | None = None


class Problem(BaseModel):
    """RFC 9457 problem details, as every 4xx/5xx response body."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldProblem] | None = Field(default=None)


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    type_: str = "about:blank",
    errors: Sequence[FieldProblem] | None = None,
    headers: Mapping[str, str] | None = None,
    instance: str | None = None,
) -> Response:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    if errors:
        body["errors"] = [e.model_dump(exclude_none=True) for e in errors]
    return Response(
        orjson.dumps(body), status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON
    )


class AppError(Exception):
    status: int = 500
    slug: str = "internal-error"
    title: str = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[FieldProblem] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = list(errors or [])
        self.headers = dict(headers or {})

    @property
    def type_uri(self) -> str:
        return f"/problems/{self.slug}"

    def response(self, instance: str | None = None) -> Response:
        return problem_response(
            self.status,
            self.title,
            self.detail,
            type_=self.type_uri,
            errors=self.errors,
            headers=self.headers,
            instance=instance,
        )


class BadRequest(AppError):
    status, slug, title = 400, "bad-request", "Bad request"


class MalformedJson(AppError):
    status, slug, title = 400, "malformed-json", "Malformed JSON body"


class InvalidConsistencyToken(AppError):
    status, slug, title = 400, "invalid-consistency-token", "Invalid consistency token"


class InvalidCursor(AppError):
    status, slug, title = 400, "invalid-cursor", "Invalid pagination cursor"


class Unauthorized(AppError):
    status, slug, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="trackr"'})


class Forbidden(AppError):
    status, slug, title = 403, "forbidden", "Insufficient scope"


class NotFound(AppError):
    status, slug, title = 404, "not-found", "Not found"


class PreconditionFailed(AppError):
    status, slug, title = 412, "precondition-failed", "Precondition failed"


class PayloadTooLarge(AppError):
    status, slug, title = 413, "payload-too-large", "Request body too large"


class ValidationProblem(AppError):
    status, slug, title = 422, "validation-error", "Request validation failed"


class IdempotencyKeyReused(AppError):
    status, slug, title = 422, "idempotency-key-reused", "Idempotency key reused"


class IdempotencyKeyInUse(AppError):
    status, slug, title = 409, "idempotency-key-in-use", "Idempotency key in use"


class ServiceUnavailable(AppError):
    status, slug, title = 503, "service-unavailable", "Service unavailable"

    def __init__(self, detail: str, retry_after_seconds: int = 1) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_seconds)})


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
    return exc.response(instance=request.url.path)


async def _request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems, malformed = validation_problems(exc.errors())
    if malformed:
        return MalformedJson("The request body is not valid JSON.", errors=problems).response(
            instance=request.url.path
        )
    return ValidationProblem(
        "One or more fields are invalid; see `errors`.", errors=problems
    ).response(instance=request.url.path)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
    return problem_response(
        exc.status_code, phrase, detail, headers=exc.headers, instance=request.url.path
    )


# SQLSTATE classes and codes that mean "the database is briefly unable", not "a bug":
# 08 connection exceptions, 53 insufficient resources, 57 operator intervention (shutdown,
# statement timeout), 25006 read-only transaction (the node changed role under us).
TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "57")
TRANSIENT_SQLSTATES = ("25006", "40001", "40P01")
# The server refuses new sessions: starting up, shutting down, too many clients.
CANNOT_CONNECT_SQLSTATES = ("57P03", "53300", "08001", "08004")


# Raised by asyncpg.connect itself, unwrapped, when no listed host is a writer.
NO_SUITABLE_HOST = (asyncpg.exceptions.TargetServerAttributeNotMatched,)


def _driver_error(exc: BaseException) -> BaseException:
    """The driver's own exception under SQLAlchemy's wrappers (asyncpg's, or an OSError).

    A failed connect from the pool (`raw_connection`) raises SQLAlchemy's emulated DB-API
    error unwrapped, not a DBAPIError: e.g. 57P03 from a node that is shutting down.
    """
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    if isinstance(exc, EmulatedDBAPIException):
        return exc.__cause__ or exc
    return exc


def _sqlstate(exc: BaseException | None) -> str:
    return str(getattr(exc, "sqlstate", "") or "")


def is_broken_connection(exc: BaseException) -> bool:
    """The driver found a pooled connection unusable before the server said anything.

    "connection is closed": its server side ended (SQLAlchemy's rule too). An internal
    client error ("cannot switch to state …; another operation is in progress"): the server
    killed the idle connection and its FATAL message was read but not yet the end of the
    stream, so the protocol is stuck mid-error. Both mean "discard it and retry".
    """
    if isinstance(exc, asyncpg.InterfaceError):
        return "connection is closed" in str(exc)
    return isinstance(exc, asyncpg.exceptions.InternalClientError)


def is_transient_db_error(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    driver = _driver_error(exc)
    if isinstance(driver, (OSError, PoolTimeoutError, *NO_SUITABLE_HOST)):
        return True
    if is_broken_connection(driver):
        return True
    sqlstate = _sqlstate(driver)
    if not sqlstate and isinstance(exc, DBAPIError):
        sqlstate = _sqlstate(exc.orig)  # SQLAlchemy's adapter copies it too
    return sqlstate.startswith(TRANSIENT_SQLSTATE_CLASSES) or sqlstate in TRANSIENT_SQLSTATES


def is_connect_failure(exc: BaseException) -> bool:
    """Could not reach a writer at all (as opposed to losing one established connection).

    Only this is evidence that the primary is down; a terminated session is not.
    """
    driver = _driver_error(exc)
    if isinstance(driver, ConnectionResetError | BrokenPipeError):
        return False  # an established connection died
    if isinstance(driver, (OSError, PoolTimeoutError, *NO_SUITABLE_HOST)):
        return True  # refused, unreachable, timed out, or no host accepts writes
    return _sqlstate(driver) in CANNOT_CONNECT_SQLSTATES


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    if not is_transient_db_error(exc):
        return await _unhandled(request, exc)
    log.warning("database unavailable: %s: %s", exc.__class__.__name__, exc)
    return ServiceUnavailable("The database is unavailable; retry shortly.").response(
        instance=request.url.path
    )


async def _unhandled(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        500, "Internal server error", "An unexpected error occurred.", instance=request.url.path
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(PoolTimeoutError, _database_unavailable)
    app.add_exception_handler(OSError, _database_unavailable)
    app.add_exception_handler(DBAPIError, _database_unavailable)
    app.add_exception_handler(EmulatedDBAPIException, _database_unavailable)
    app.add_exception_handler(asyncpg.PostgresError, _database_unavailable)
    app.add_exception_handler(asyncpg.InterfaceError, _database_unavailable)
    app.add_exception_handler(asyncpg.exceptions.InternalClientError, _database_unavailable)
    app.add_exception_handler(NO_SUITABLE_HOST[0], _database_unavailable)
    app.add_exception_handler(Exception, _unhandled)
