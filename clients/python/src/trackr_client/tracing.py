"""Spans for the failover client when OpenTelemetry's API is installed (`pip install
trackr-client[tracing]`); the application's tracer provider decides where they go.

A call is a span (`trackr <METHOD>`). Each backend it tries is a client span under it, with
the backend's address and the outcome (the status, or the error). Each attempt
carries the trace context to the server (W3C `traceparent`), so a traced server's spans
join the client's trace under the attempt that reached it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

try:
    from opentelemetry import propagate, trace
except ImportError:  # tracing is optional
    trace = None  # type: ignore[assignment]

TRACER = "trackr_client"


class Tracer:
    def __init__(self, tracer_provider: Any = None) -> None:
        """`tracer_provider`: an OpenTelemetry TracerProvider; default the global one."""
        self._tracer = (
            None if trace is None else trace.get_tracer(TRACER, tracer_provider=tracer_provider)
        )

    @contextmanager
    def call(self, method: str, path: str) -> Iterator[None]:
        if self._tracer is None:
            yield
            return
        with self._tracer.start_as_current_span(
            f"trackr {method}", attributes={"http.request.method": method, "url.path": path}
        ):
            yield

    @contextmanager
    def attempt(self, backend: str, method: str, headers: dict[str, str]) -> Iterator[Any]:
        """A client span for one backend; `headers` gain the trace context to send."""
        if self._tracer is None:
            yield None
            return
        with self._tracer.start_as_current_span(
            f"trackr {method} attempt",
            kind=trace.SpanKind.CLIENT,
            attributes={"server.address": backend, "http.request.method": method},
        ) as span:
            propagate.inject(headers)
            yield span


def record_outcome(span: Any, outcome: Any) -> None:
    """The attempt's status code, or the error that ended it (an unanswered request or a 5xx
    is the span's error: the client moves on or gives up)."""
    if span is None:
        return
    if isinstance(outcome, Exception):
        failure = f"{type(outcome).__name__}: {outcome}".rstrip(": ")
        span.set_status(trace.Status(trace.StatusCode.ERROR, failure))
        return
    span.set_attribute("http.response.status_code", outcome.status_code)
    if outcome.status_code >= 500:
        span.set_status(trace.Status(trace.StatusCode.ERROR, f"HTTP {outcome.status_code}"))
