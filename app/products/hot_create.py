"""`POST /api/products` as plain ASGI, in front of FastAPI's router, as `app.products.hot`
does for the hot reads (docs/performance-notes.md, step 16).

A create that FastAPI would accept is served here with the route's own parts: the same auth
dependency, the write transaction, the idempotency dependency and the route's endpoint
function itself, so the response is the route's (tests/test_hot_create.py sends every request
both ways). Anything else falls through to FastAPI with the body replayed, and FastAPI
answers as always: a query string, a content type other than JSON, a body that is not a
valid `ProductCreate`, a malformed `Idempotency-Key`, a repeated header.
`verify_create_route` refuses to start an app whose create route takes other inputs.
"""

from __future__ import annotations

import json
import re
from contextlib import asynccontextmanager
from typing import get_args

from fastapi import Request
from fastapi.routing import iter_route_contexts
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth import WriterDep, _bearer
from app.dependencies import database_of, get_database, write_session
from app.idempotency.dependency import KEY_MAX_LENGTH, KEY_PATTERN, idempotency
from app.middleware import route_path
from app.parameters import known_parameters_only
from app.products.hot import HotRoute, Inputs, route_inputs, serve_or_handle
from app.products.router import create_product, router
from app.products.schemas import ProductCreate

require_writer = get_args(WriterDep)[1].dependency
CREATE_INPUTS: Inputs = frozenset(
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
write_scope = asynccontextmanager(write_session)
CREATE_ROUTE = HotRoute(router.prefix, create_product, CREATE_INPUTS)
JSON = re.compile(rb"^application/json\s*(;\s*charset=\"?utf-8\"?\s*)?$", re.IGNORECASE)
KEY = re.compile(KEY_PATTERN)
SINGLE = (b"authorization", b"content-type", b"idempotency-key")


def verify_create_route(routes: list[BaseRoute]) -> None:
    """Raise unless the create route takes exactly the inputs this fast path serves."""
    for route in iter_route_contexts(routes):
        if (route.path, route.endpoint) == (CREATE_ROUTE.path, create_product):
            actual = route_inputs(route.dependant)
            if actual != CREATE_INPUTS or route.methods != {"POST"}:
                raise RuntimeError(
                    f"POST {CREATE_ROUTE.path} takes inputs the fast path does not serve alike: "
                    f"route {sorted(map(str, actual))}, fast path {sorted(map(str, CREATE_INPUTS))}"
                )
            return
    raise RuntimeError(f"the fast path serves POST {CREATE_ROUTE.path}, which no route declares")


class HotCreateMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _may_serve(scope):
            request = Request(scope, receive)
            try:
                body = await request.body()
            except Exception as exc:  # too large, or the client left: FastAPI says what
                await self.app(scope, _failing(exc), send)
                return
            data = _product(body)
            if data is not None:
                scope["route"] = CREATE_ROUTE

                async def serve(request: Request) -> Response:
                    return await _create(request, data)

                response = await serve_or_handle(serve, request)
                await response(scope, receive, send)
                return
            receive = _replaying(body)
        await self.app(scope, receive, send)


def _may_serve(scope: Scope) -> bool:
    if scope["type"] != "http" or scope["method"] != "POST" or scope["query_string"]:
        return False
    if route_path(scope) != router.prefix:
        return False
    headers: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in SINGLE and name in headers:
            return False  # which one FastAPI reads is its business
        headers[name] = value
    if not JSON.match(headers.get(b"content-type", b"")):
        return False
    key = headers.get(b"idempotency-key")
    return key is None or (
        len(key) <= KEY_MAX_LENGTH and KEY.match(key.decode("latin-1")) is not None
    )


def _product(body: bytes) -> ProductCreate | None:
    """The body as the route's model, or None when FastAPI should say what is wrong.

    Parsed as FastAPI parses it (Starlette's `request.json()`: the standard library), then
    validated as a Python object. Not orjson: it reads an integer beyond 64 bits as a float,
    which the model would judge differently from the exact integer FastAPI sees.
    """
    try:
        return ProductCreate.model_validate(json.loads(body))
    except (ValueError, RecursionError):  # ValidationError is a ValueError
        return None


async def _create(request: Request, data: ProductCreate) -> Response:
    # The route's dependencies, in the order FastAPI solves them; the transaction commits
    # when the block ends, before the response is sent, as with the route.
    principal = await require_writer(request, await _bearer(request))
    async with write_scope(request, database_of(request)) as session:
        writes = await idempotency(request, session, request.headers.get("idempotency-key"))
        response: Response = await create_product(principal, request, session, writes, data)
    return response


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
