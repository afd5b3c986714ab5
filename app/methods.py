"""HEAD on every GET route and a plain OPTIONS on every path, as plain ASGI.

FastAPI routes answer only the methods they declare: HEAD would be 405 and so would an
OPTIONS that is not a CORS preflight (Starlette's CORS middleware answers those first).
HEAD runs the GET (fast path included) and sends its headers without the body; OPTIONS
answers 204 with `Allow`.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.problems import allowed_methods


class MethodsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method")
        if scope["type"] != "http" or method not in ("HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
        elif method == "HEAD":
            await self._head(scope, receive, send)
        elif allowed := allowed_methods(scope["app"], scope):
            response = Response(status_code=204, headers={"Allow": ", ".join(allowed)})
            await response(scope, receive, send)
        else:
            await self.app(scope, receive, send)  # no such path: the router's 404

    async def _head(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The GET with its body dropped; `Content-Length` stays the GET's (RFC 9110 9.3.2)."""
        as_get = {**scope, "method": "GET"}

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        try:
            await self.app(as_get, receive, headers_only)
        finally:
            if "route" in as_get:  # for the access log and the latency histogram
                scope["route"] = as_get["route"]
