"""The two hot reads as plain ASGI, in front of FastAPI's router.

`GET /api/products/{id}` and `GET /api/products?category=…` are trackr's most frequent
requests and its cheapest queries, so FastAPI's per-request machinery (route matching across
every route, the dependency solver, parameter validation, the exception-wrapping layers) cost
more than the database round trip: by-id ran at 0.6x of a bare asyncpg endpoint
(docs/performance-notes.md, step 7). This middleware serves those requests with the parts the
FastAPI routes use — `read_session` (routing, read-your-writes, failover), `product_filters`,
the service functions, the same response builders — and renders errors with the app's own
exception handlers, so a response is the route's, byte for byte (tests/test_hot_reads.py
sends every request both ways).

It only takes a request it can see is valid for the route's own parameters: a GET, a
positive 64-bit id, or a query string of known list parameters given once each with values
in range. Anything else falls through to FastAPI, which produces every validation error and
still documents both endpoints in OpenAPI.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.db.session import read_session
from app.products import service
from app.products.filters import ATTR_PREFIX, Q_MAX_LENGTH, product_filters
from app.products.listing import SORTS
from app.products.router import (
    CURSOR_MAX_LENGTH,
    LIST_LIMIT_DEFAULT,
    LIST_LIMIT_MAX,
    MAX_PRODUCT_ID,
    get_product,
    list_products,
    page_response,
    product_response,
    router,
)

BY_ID_PATH = re.compile(re.escape(router.prefix) + r"/([1-9][0-9]{0,18})")
SMALL_INT = re.compile(r"[1-9][0-9]{0,2}")
# Scalar list parameters the hot path validates itself; any other name (`min_price`,
# `in_stock`, a typo) sends the request to FastAPI.
SIMPLE_PARAMETERS = frozenset({"category", "q", "sort", "limit", "cursor"})

Serve = Callable[[Request], Awaitable[Response]]


class _Route:
    """What the access log and the latency histogram read from `scope["route"]`."""

    def __init__(self, path: str, endpoint: Callable[..., Any]) -> None:
        self.path = path
        self.endpoint = endpoint


BY_ID_ROUTE = _Route(router.prefix + "/{product_id}", get_product)
LIST_ROUTE = _Route(router.prefix, list_products)


class HotReadsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            request = Request(scope, receive)
            route, serve = _recognise(request)
            if serve is not None:
                scope["route"] = route
                response = await _serve_or_handle(serve, request)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path the app's routes see: without the root path a proxy mounts it under."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root + "/") else path


def _recognise(request: Request) -> tuple[_Route | None, Serve | None]:
    path = _route_path(request.scope)
    if path == router.prefix:
        # Parsed once: `product_filters` reads the same cached `request.query_params`.
        return LIST_ROUTE, _list_request(request.query_params)
    match = BY_ID_PATH.fullmatch(path)
    if match is not None and (product_id := int(match[1])) <= MAX_PRODUCT_ID:
        return BY_ID_ROUTE, _by_id_request(product_id)
    return None, None


def _by_id_request(product_id: int) -> Serve:
    async def serve(request: Request) -> Response:
        session = await read_session(request)
        row = await service.get_product(session, product_id)
        return product_response(row, request.headers.get("if-none-match"))

    return serve


def _list_request(params: QueryParams) -> Serve | None:
    """A list request whose own parameters are all valid, or None (FastAPI decides)."""
    simple: dict[str, str] = {}
    for key, value in params.multi_items():
        if key.startswith(ATTR_PREFIX):
            continue  # `product_filters` validates attribute filters, as in the route
        if key not in SIMPLE_PARAMETERS or key in simple:
            return None
        simple[key] = value
    sort = simple.get("sort", "id")
    limit = simple.get("limit", str(LIST_LIMIT_DEFAULT))
    cursor = simple.get("cursor")
    q = simple.get("q")
    if (
        sort not in SORTS
        or not SMALL_INT.fullmatch(limit)
        or int(limit) > LIST_LIMIT_MAX
        or (cursor is not None and len(cursor) > CURSOR_MAX_LENGTH)
        or (q is not None and len(q) > Q_MAX_LENGTH)
    ):
        return None

    async def serve(request: Request) -> Response:
        session = await read_session(request)
        filters = await product_filters(request, category=simple.get("category"), q=q)
        rows, next_cursor = await service.list_products(session, filters, sort, cursor, int(limit))
        return page_response(rows, next_cursor)

    return serve


async def _serve_or_handle(serve: Serve, request: Request) -> Response:
    try:
        return await serve(request)
    except Exception as exc:
        handler = _handler_for(request, exc)
        if handler is None:
            raise  # ServerErrorMiddleware renders it, as for any route
        response: Response = await handler(request, exc)
        return response


def _handler_for(request: Request, exc: Exception) -> Any:
    """The app's exception handler for `exc`, looked up as Starlette's ExceptionMiddleware
    does (by MRO). The catch-all `Exception` handler is ServerErrorMiddleware's: an
    unexpected error propagates to it, as it would from a route."""
    handlers = request.app.exception_handlers
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        if cls in handlers:
            return handlers[cls]
    return None
