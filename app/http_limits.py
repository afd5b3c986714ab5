"""`trackr serve`'s HTTP protocol: uvicorn's httptools protocol with limits it does not have.

uvicorn bounds neither the time a client takes to send a request head, nor how long a new
connection may stay silent, nor the size and count of header fields (httptools accepts an
8 MB header and 20,000 fields). Each of those lets a few slow or careless clients hold a
worker's connections or memory. This protocol adds the four limits, and turns uvicorn's
`limit_concurrency` refusal into a problem+json 503. Every refusal is a problem+json
response on a closing connection; a connection that never sends a byte is just closed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httptools
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.errors import ServiceUnavailable
from app.problems import problem_response, render


@dataclass(frozen=True)
class HttpLimits:
    head_timeout_seconds: float = 10.0
    first_byte_timeout_seconds: float = 10.0
    max_header_bytes: int = 16 * 1024
    max_header_count: int = 100
    max_connections: int = 1000


class HeadRefused(Exception):
    """Raised from a parser callback: the request head breaks a limit."""

    def __init__(self, status: HTTPStatus, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def problem_bytes(status: HTTPStatus, detail: str) -> bytes:
    """A whole HTTP/1.1 problem+json response that closes the connection."""
    response = problem_response(status, status.phrase, detail)
    head = [f"HTTP/1.1 {status.value} {status.phrase}".encode()]
    head += [name + b": " + value for name, value in response.raw_headers]
    head.append(b"connection: close")
    return b"\r\n".join(head) + b"\r\n\r\n" + bytes(response.body)


async def at_capacity(scope: Scope, receive: Receive, send: Send) -> None:
    error = ServiceUnavailable(
        "this server is at its connection limit (MAX_CONNECTIONS); retry shortly"
    )
    response = render(error, instance=scope.get("path"))
    response.headers["Connection"] = "close"
    await response(scope, receive, send)


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """Built by uvicorn per connection: `functools.partial(LimitedHttpToolsProtocol,
    limits=...)` as its `http` protocol class."""

    def __init__(self, *args: Any, limits: HttpLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.limit_concurrency = None  # counted here, refused as a problem (below)
        self._in_head = False
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._first_byte_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._first_byte_timer = self.loop.call_later(
            self.limits.first_byte_timeout_seconds, self._silent_too_long
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._first_byte_timer is not None:
            self._first_byte_timer.cancel()
            self._first_byte_timer = None
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            refused = exc.__context__
            if isinstance(refused, HeadRefused):
                self._refuse(refused.status, refused.detail)
            else:
                self.logger.warning("Invalid HTTP request received.")
                self._refuse(HTTPStatus.BAD_REQUEST, "the request is not valid HTTP/1.1")
            return
        if self._in_head:
            # A head still incomplete: every byte of it so far is header bytes.
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse(*self._too_large())

    # -- parser callbacks ------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._head_timer = self.loop.call_later(
            self.limits.head_timeout_seconds, self._head_too_slow
        )

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if len(self.headers) > self.limits.max_header_count:
            raise HeadRefused(
                HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                f"the request has {len(self.headers)} header fields; at most "
                f"{self.limits.max_header_count} are accepted",
            )
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.limits.max_header_bytes:
            raise HeadRefused(*self._too_large())
        if self._over_capacity():
            self.app, app = at_capacity, self.app
            try:
                super().on_headers_complete()
            finally:
                self.app = app
        else:
            super().on_headers_complete()

    # -- limits ----------------------------------------------------------------------------
    def _too_large(self) -> tuple[HTTPStatus, str]:
        return (
            HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
            f"the request line and headers exceed {self.limits.max_header_bytes} bytes",
        )

    def _over_capacity(self) -> bool:
        limit = self.limits.max_connections
        return len(self.connections) > limit or len(self.tasks) >= limit

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._in_head:
            seconds = self.limits.head_timeout_seconds
            self._refuse(
                HTTPStatus.REQUEST_TIMEOUT, f"the request head was not received within {seconds} s"
            )

    def _silent_too_long(self) -> None:
        self._first_byte_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _refuse(self, status: HTTPStatus, detail: str) -> None:
        self._cancel_timers()
        self._in_head = False
        if not self.transport.is_closing():
            self.transport.write(problem_bytes(status, detail))
            self.transport.close()

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._first_byte_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._first_byte_timer = None
