"""`POST /api/products` and `PATCH /api/products/{id}` as plain ASGI, in front of FastAPI's
router, as `app.products.hot` does for the hot reads (docs/performance-notes.md, steps 16
and 19).

A write that FastAPI would accept is served here with the route's own parts: the same auth
dependency, the write transaction, the idempotency dependency and the route's endpoint
function itself, so the response is the route's (tests/test_hot_writes.py sends every request
both ways). Anything else falls through to FastAPI with the body replayed, and FastAPI
answers as always: a query string, a content type other than JSON, a body that is not a
valid model, a product id FastAPI would refuse, a malformed `Idempotency-Key`, a repeated
header. `verify_write_routes` fails on write routes that take other inputs (run by the tests,
as `app.products.hot.verify_routes`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, get_args

from fastapi import Request
from pydantic import BaseModel
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth import Principal, WriterDep, _bearer
from app.db.session import WriteSession
from app.dependencies import database_of, get_database, request_write, write_session
from app.idempotency.dependency import KEY_MAX_LENGTH, KEY_PATTERN, Idempotency, idempotency
from app.middleware import route_path
from app.parameters import known_parameters_only
from app.products.hot import HotRoute, Inputs, serve_or_handle, verify_routes
from app.products.query import product_id
from app.products.router import create_product, router, update_product
from app.products.schemas import ProductCreate, ProductUpdate

require_writer = get_args(WriterDep)[1].dependency
WRITE_INPUTS: Inputs = frozenset(
    {
        ("depends", require_writer),
        ("depends", _bearer),
        ("depends", write_session),
        ("depends", get_database),
        ("depends", idempotency),
        ("header", "Idempotency-Key"),
        ("body", "data"),
        ("depends", known_parameters_only),
    }
)
JSON = re.compile(rb"^application/json\s*(;\s*charset=\"?utf-8\"?\s*)?$", re.IGNORECASE)
KEY = re.compile(KEY_PATTERN)


@dataclass(frozen=True)
class HotWrite:
    method: str
    route: HotRoute
    model: type[BaseModel]
    single: tuple[bytes, ...]  # headers that must not repeat: which one FastAPI reads is its own


CREATE = HotWrite(
    "POST",
    HotRoute(router.prefix, create_product, WRITE_INPUTS),
    ProductCreate,
    (b"authorization", b"content-type", b"idempotency-key"),
)
UPDATE = HotWrite(
    "PATCH",
    HotRoute(
        router.prefix + "/{product_id}",
        update_product,
        WRITE_INPUTS | {("path", "product_id"), ("header", "if-match")},
    ),
    ProductUpdate,
    (b"authorization", b"content-type", b"idempotency-key", b"if-match"),
)


def verify_write_routes(routes: list[BaseRoute]) -> None:
    """Raise unless each write route takes exactly the inputs this fast path serves."""
    verify_routes(routes, [(hot.method, hot.route) for hot in (CREATE, UPDATE)])


class HotWritesMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        taken = recognise(scope)
        if taken is not None:
            hot, pid = taken
            request = Request(scope, receive)
            try:
                body = await request.body()
            except Exception as exc:  # too large, or the client left: FastAPI says what
                await self.app(scope, _failing(exc), send)
                return
            data = parse_body(hot, body)
            if data is not None:
                scope["route"] = hot.route

                async def serve(request: Request) -> Response:
                    return await _write(request, pid, data)

                response = await serve_or_handle(serve, request)
                await response(scope, receive, send)
                return
            receive = _replaying(body)
        await self.app(scope, receive, send)


def recognise(scope: Scope) -> tuple[HotWrite, int | None] | None:
    """The write this request is and its product id, when the fast path may serve it (its
    body still to be checked)."""
    if scope["type"] != "http" or scope["query_string"]:
        return None
    method = scope["method"]
    path = route_path(scope)
    if method == "POST" and path == router.prefix:
        hot, pid = CREATE, None
    elif method == "PATCH" and path.startswith(router.prefix + "/"):
        pid = product_id(path[len(router.prefix) + 1 :])
        if pid is None:
            return None
        hot = UPDATE
    else:
        return None
    headers: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in hot.single and name in headers:
            return None
        headers[name] = value
    if not JSON.match(headers.get(b"content-type", b"")):
        return None
    key = headers.get(b"idempotency-key")
    if key is not None and (len(key) > KEY_MAX_LENGTH or not KEY.match(key.decode("latin-1"))):
        return None
    return hot, pid


def parse_body(hot: HotWrite, body: bytes) -> Any:
    """The body as the route's model, or None when FastAPI should say what is wrong.

    Parsed as FastAPI parses it (Starlette's `request.json()`: the standard library), then
    validated as a Python object. Not orjson: it reads an integer beyond 64 bits as a float,
    which the model would judge differently from the exact integer FastAPI sees.
    """
    try:
        return hot.model.model_validate(json.loads(body))
    except (ValueError, RecursionError):  # ValidationError is a ValueError
        return None


async def _write(request: Request, pid: int | None, data: Any) -> Response:
    # The route's dependencies, in the order FastAPI solves them; the transaction commits
    # when the block ends, before the response is sent, as with the route. A create without
    # an Idempotency-Key is one statement (app.db.session.TRUSTED_FOR_SECONDS).
    principal = await require_writer(request, await _bearer(request))
    key = request.headers.get("idempotency-key")
    async with request_write(request, database_of(request), pid is None and key is None) as session:
        writes = await idempotency(request, session, key)
        return await _endpoint(principal, request, session, writes, pid, data)


async def _endpoint(
    principal: Principal,
    request: Request,
    session: WriteSession,
    writes: Idempotency,
    pid: int | None,
    data: Any,
) -> Response:
    if pid is None:
        return await create_product(principal, request, session, writes, data)
    if_match = request.headers.get("if-match")
    return await update_product(principal, request, pid, session, writes, data, if_match)


def _replaying(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def _failing(exc: Exception) -> Receive:
    async def receive() -> Message:
        raise exc

    return receive
