"""Plain ASGI middleware (not BaseHTTPMiddleware, which breaks contextvars and streaming)."""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.db.routing import ReadSession
from app.dependencies import CONSISTENCY_HEADER, SERVED_BY_HEADER, served_by
from app.errors import PayloadTooLarge
from app.logs import REQUEST_ID, structlog
from app.metrics import http_latency
from app.problems import render

TOKEN_HEADER = CONSISTENCY_HEADER.lower().encode()
SERVED_BY_NAME = SERVED_BY_HEADER.lower().encode()


def new_request_id() -> str:
    """128 random bits as 32 hex digits. Not `uuid4()`: its `os.urandom` is a system call
    per request (3% of a by-id read); an id needs uniqueness, not secrecy, and `random`
    is reseeded in every forked worker."""
    return f"{random.getrandbits(128):032x}"


DOCS_STATIC = "/docs-static"  # Swagger UI's and ReDoc's files (app.main)
DOCS_PAGES = ("/docs", "/redoc")
REVALIDATED = ("/api/", DOCS_STATIC + "/")  # reads kept, revalidated by ETag
# An API response is data, never a page: nothing in it may load or run, nor be framed.
API_CSP = "default-src 'none'; frame-ancestors 'none'"
# The docs pages run their own inline bootstrap and styles and load only this server's files
# (ReDoc's bundle would fetch a logo from its CDN; offline, it must not try).
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'"
)


API_CSP_BYTES, DOCS_CSP_BYTES = API_CSP.encode(), DOCS_CSP.encode()


def replaced(
    inner: Iterable[tuple[bytes, bytes]], ours: list[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    """The inner app's headers with ours set (replacing any of the same names): a list built
    once, where starlette's MutableHeaders scans the list again for every header set."""
    names = {name for name, _ in ours}
    return [(name, value) for name, value in inner if name.lower() not in names] + ours


def route_path(scope: Scope) -> str:
    """The path the app's routes see: without the root path a proxy mounts it under."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root + "/") else path


def cache_policy(scope: Scope, status: int) -> str:
    """API reads (and the docs' static files) may be kept but are revalidated each time
    (their ETag makes that cheap); anything else (writes, errors, health, metrics) is never
    stored."""
    read = scope["method"] in ("GET", "HEAD") and status in (200, 304)
    return "no-cache" if read and scope["path"].startswith(REVALIDATED) else "no-store"


class RequestContextMiddleware:
    """Request id, one access-log line per request, the routing response headers, and the
    security ones (`X-Content-Type-Options`, `Cache-Control`); with `traced`, the route and
    who served the request on its span (app.tracing)."""

    def __init__(self, app: ASGIApp, traced: bool = False) -> None:
        self.app = app
        self.traced = traced
        # The app's own: structlog caches a logger's processors at its first use, and the
        # processors follow this app's logging configuration (the trace ids, app.logs).
        self.access_log = structlog.get_logger()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming[:64] if incoming.isprintable() and incoming else new_request_id()
        state = scope.setdefault("state", {})
        started = time.perf_counter()
        status_code = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                inner = message.get("headers", ())
                ours = [
                    (b"x-request-id", request_id.encode("latin-1")),
                    (b"x-content-type-options", b"nosniff"),
                    (b"content-security-policy",
                     DOCS_CSP_BYTES if scope["path"] in DOCS_PAGES else API_CSP_BYTES),
                ]  # fmt: skip
                if not any(name.lower() == b"cache-control" for name, _ in inner):
                    ours.append((b"cache-control", cache_policy(scope, status_code).encode()))
                if node := served_by(state):
                    ours.append((SERVED_BY_NAME, node.encode("latin-1")))
                if token := state.get("consistency_token"):
                    ours.append((TOKEN_HEADER, token.encode("latin-1")))
                message["headers"] = replaced(inner, ours)
                if self.traced:  # now: the server span ends with the response's last byte
                    route = getattr(scope.get("route"), "path", "unmatched")
                    token_sent = any(name == TOKEN_HEADER for name, _ in scope["headers"])
                    annotate_request(scope["method"], route, token_sent, state)
            await send(message)

        bound = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            http_latency(scope["method"], route, status_code).observe(elapsed)
            self.access_log.info(
                "request",
                logger="trackr.access",
                method=scope["method"],
                path=scope["path"],
                status=status_code,
                duration_ms=round(elapsed * 1000, 2),
                served_by=served_by(state),
            )
            REQUEST_ID.reset(bound)


class BodySizeLimitMiddleware:
    """Refuse bodies over the limit with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI reports it as the cause of its "error parsing the body" 400;
                    # app.problems renders that cause.
                    raise PayloadTooLarge(self._detail())
            return message

        await self.app(scope, limited_receive, send)

    def _detail(self) -> str:
        return f"the request body exceeds the limit of {self.max_bytes} bytes"

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = render(PayloadTooLarge(self._detail()), instance=scope["path"])
        await response(scope, receive, send)


def annotate_request(method: str, route: str, token_sent: bool, state: dict[str, Any]) -> None:
    """Name the request's server span by its route and say who served it: the node, whether
    a consistency token came and sent the read to the primary, retries and moves."""
    from opentelemetry import trace  # only imported when tracing is on

    span = trace.get_current_span()
    if not span.is_recording():
        return
    span.update_name(f"{method} {route}")
    span.set_attribute("http.route", route)
    node = served_by(state)
    if node is not None:
        span.set_attribute("trackr.served_by", node)
    span.set_attribute("trackr.consistency_token", token_sent)
    session: ReadSession | None = state.get("read_session")
    if session is not None:
        span.set_attribute("trackr.token_forced_primary", token_sent and node == "primary")
        span.set_attribute("trackr.read_retried", session.retried)
        span.set_attribute("trackr.read_moved", session.moved)
