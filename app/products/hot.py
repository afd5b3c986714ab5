"""The two hot reads as plain ASGI, in front of FastAPI's router.

`GET /api/products/{id}` and `GET /api/products?…` are trackr's most frequent requests and
its cheapest queries, so FastAPI's per-request machinery (route matching across every route,
the dependency solver, the exception-wrapping layers) cost more than the database round trip
(docs/performance-notes.md, step 7). This middleware serves those requests with the routes'
own parts — `read_session` (routing, read-your-writes, failover), the one parser of their
parameters (`app.products.query`), the service functions, the same response builders — and
renders errors with the app's own exception handlers, so a response is the route's, byte for
byte (tests/test_hot_reads.py sends every request both ways).

It takes only a request whose parameters the shared parser accepts; anything else falls
through to FastAPI, which produces every validation error and documents both endpoints.
`verify_routes` fails on routes that take inputs the fast path does not (a new dependency,
header or parameter would otherwise be bypassed): the routes are code, so the tests run it
(tests/test_hot_reads.py, tests/test_hot_writes.py), not each start. At a start it would
build every route's FastAPI state up front, which FastAPI builds for a router's routes when
a request first reaches them (~30 ms of a cold start; docs/performance-notes.md, step 24).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from pydantic import ValidationError
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from app.dependencies import read_session
from app.middleware import route_path
from app.parameters import known_parameters_only
from app.products import service
from app.products.query import ListParams, parse_list, product_id
from app.products.router import (
    get_product,
    list_products,
    list_query,
    page_response,
    product_response,
    router,
)

Serve = Callable[[Request], Awaitable[Response]]
# Everything each route takes from a request, as `verify_routes` reads it from its dependant;
# the fast path below reads exactly these. `known_parameters_only` cannot refuse a request
# the fast path serves: by id it takes only an empty query string, and the list's own
# parser refuses unknown names.
Inputs = frozenset[tuple[str, object]]
BY_ID_INPUTS: Inputs = frozenset(
    {
        ("path", "product_id"),
        ("header", "if-none-match"),
        ("depends", read_session),
        ("depends", known_parameters_only),
    }
)
LIST_INPUTS: Inputs = frozenset(
    {
        ("depends", read_session),
        ("depends", list_query),
        ("query", ListParams),
        ("depends", known_parameters_only),
    }
)


class HotRoute:
    """A route the fast path serves: what the access log and the latency histogram read from
    `scope["route"]`, and the inputs `verify_routes` expects the real route to take."""

    def __init__(self, path: str, endpoint: Callable[..., Any], inputs: Inputs) -> None:
        self.path = path
        self.endpoint = endpoint
        self.inputs = inputs


BY_ID_ROUTE = HotRoute(router.prefix + "/{product_id}", get_product, BY_ID_INPUTS)
LIST_ROUTE = HotRoute(router.prefix, list_products, LIST_INPUTS)


def route_inputs(dependant: Dependant) -> Inputs:
    """Every input a route's dependant (and its sub-dependencies) takes from a request."""
    inputs: set[tuple[str, object]] = set()
    for kind, params in (
        ("path", dependant.path_params),
        ("header", dependant.header_params),
        ("cookie", dependant.cookie_params),
        ("body", dependant.body_params),
    ):
        inputs |= {(kind, param.alias) for param in params}
    inputs |= {("query", param.field_info.annotation) for param in dependant.query_params}
    for sub in dependant.dependencies:
        inputs.add(("depends", sub.call))
        inputs |= route_inputs(sub)
    return frozenset(inputs)


HOT_READS = (("GET", BY_ID_ROUTE), ("GET", LIST_ROUTE))


def verify_routes(
    routes: Iterable[BaseRoute], served: Iterable[tuple[str, HotRoute]] | None = None
) -> None:
    """Raise unless each route a fast path serves (method, route; default: the hot reads)
    takes exactly the inputs that fast path serves."""
    found = {(r.path, r.endpoint): r for r in iter_route_contexts(list(routes))}
    for method, hot in served if served is not None else HOT_READS:
        route = found.get((hot.path, hot.endpoint))
        if route is None:
            raise RuntimeError(f"the fast path serves {method} {hot.path}, which no route declares")
        actual = route_inputs(route.dependant)
        if actual != hot.inputs or route.methods != {method}:
            raise RuntimeError(
                f"{method} {hot.path} takes inputs the fast path does not serve alike: "
                f"route {sorted(map(str, actual))}, fast path {sorted(map(str, hot.inputs))}"
            )


class HotReadsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            request = Request(scope, receive)
            route, serve = _recognise(request)
            if serve is not None:
                scope["route"] = route
                response = await serve_or_handle(serve, request)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _recognise(request: Request) -> tuple[HotRoute | None, Serve | None]:
    path = route_path(request.scope)
    if path == router.prefix:
        # Parsed once: `list_query` reads the same cached `request.query_params`.
        return LIST_ROUTE, _list_request(request.query_params)
    prefix, _, segment = path.rpartition("/")
    if (
        prefix == router.prefix
        and not request.scope["query_string"]
        and (pid := product_id(segment)) is not None
    ):
        return BY_ID_ROUTE, _by_id_request(pid)
    return None, None


def _by_id_request(pid: int) -> Serve:
    async def serve(request: Request) -> Response:
        session = await read_session(request)
        row = await service.get_product(session, pid)
        return product_response(row, request.headers.get("if-none-match"))

    return serve


def _list_request(query_params: QueryParams) -> Serve | None:
    """A list request whose parameters the route's model accepts, or None (FastAPI decides)."""
    try:
        params = ListParams.model_validate(dict(query_params))
    except ValidationError:
        return None

    async def serve(request: Request) -> Response:
        session = await read_session(request)
        query = parse_list(params, query_params.multi_items())
        return page_response(*await service.list_products(session, query))

    return serve


async def serve_or_handle(serve: Serve, request: Request) -> Response:
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
