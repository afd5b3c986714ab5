"""OpenTelemetry traces, on only when the environment asks for them.

`OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or
`OTEL_TRACES_EXPORTER=otlp`) turns tracing on; `OTEL_TRACES_EXPORTER=none` or
`OTEL_SDK_DISABLED=true` keeps it off. Spans go out over OTLP/HTTP. When off, nothing of the
OpenTelemetry SDK is imported and a request costs one check of a flag.

When on:
- every request gets a server span from the ASGI instrumentation, placed outside the fast
  paths so they are traced too, without the `receive`/`send` sub-spans;
- `/health*` and `/metrics` get no span;
- `app.middleware` names each span by its route and adds who served the request;
- asyncpg statements are client spans;
- the trace id goes into every log line (`app.logs`).

`trackr monitor` traces its rounds and probes under the same variables (app.monitor).

The exporter's batch thread is started in the lifespan, so each uvicorn worker has its own.
Standard `OTEL_*` variables configure the exporter (OTLP over HTTP) and the service name
(`OTEL_SERVICE_NAME`, default `trackr`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.sampling import Sampler
    from starlette.applications import Starlette

log = logging.getLogger("trackr.tracing")

# Matched against the request's full URL: /health, /health/live, /health/ready, /metrics.
EXCLUDED_PATHS = (r"^https?://[^/]+/health(/|\?|$)", r"^https?://[^/]+/metrics(\?|$)")


def tracing_requested(environ: Mapping[str, str] = os.environ) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter == "otlp"  # the one exporter trackr ships
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


class Tracing:
    """One app's tracer provider, its span processor and the instrumentations."""

    def __init__(self, processor: SpanProcessor | None = None) -> None:
        """`processor`: where spans go (default: the OTLP exporter, built when the app
        starts)."""
        self.provider = provider(requests_only=True)
        self._processor = processor
        self._asyncpg: Any = None

    def instrument(self, app: Starlette) -> None:
        """A server span per request, outside every other middleware (add it last)."""
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
        from opentelemetry.util.http import ExcludeList

        app.add_middleware(
            OpenTelemetryMiddleware,
            excluded_urls=ExcludeList(list(EXCLUDED_PATHS)),
            tracer_provider=self.provider,
            exclude_spans=["receive", "send"],
        )

    def start(self) -> None:
        """In the serving process: the exporter's thread, and spans for asyncpg."""
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

        self.provider.add_span_processor(self._processor or otlp_processor())
        self._asyncpg = AsyncPGInstrumentor(capture_parameters=False)  # type: ignore[no-untyped-call]
        self._asyncpg.instrument(tracer_provider=self.provider)

    def stop(self) -> None:
        """Send what is left and let go of asyncpg (another app may trace it next)."""
        if self._asyncpg is not None:
            self._asyncpg.uninstrument()
            self._asyncpg = None
        self.provider.shutdown()


def otlp_processor() -> SpanProcessor:
    """Batches to the OTLP/HTTP exporter (its thread starts here: call it in the process
    that serves)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    return BatchSpanProcessor(OTLPSpanExporter())


def provider(requests_only: bool, service: str = "trackr") -> TracerProvider:
    """Service name from OTEL_SERVICE_NAME (default `service`) and OTEL_RESOURCE_ATTRIBUTES;
    a share of traces kept from OTEL_TRACES_SAMPLER_ARG (default all). `requests_only`: a
    trace starts only at a server span (see `_requests_only`)."""
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    name = os.environ.get("OTEL_SERVICE_NAME", service)
    resource = Resource.create({"service.name": name}).merge(OTELResourceDetector().detect())
    root: Sampler = TraceIdRatioBased(_sampled_share(os.environ.get("OTEL_TRACES_SAMPLER_ARG")))
    sampler = ParentBased(root=_requests_only(root) if requests_only else root)
    return TracerProvider(resource=resource, sampler=sampler)


def _sampled_share(raw: str | None) -> float:
    """OTEL_TRACES_SAMPLER_ARG as a share of traces to keep: 0..1, all when unset. A value
    that is not one is said in the log and ignored (as the SDK itself does), never fatal."""
    if raw is None or not raw.strip():
        return 1.0
    try:
        share = float(raw)
    except ValueError:
        share = -1.0
    if not 0.0 <= share <= 1.0:
        log.warning("OTEL_TRACES_SAMPLER_ARG=%r is not a share from 0 to 1: tracing all", raw)
        return 1.0
    return share


def _requests_only(requests: Sampler) -> Sampler:
    """A trace starts only at a request: statements with no request around them (the replica
    monitor's checks, every interval) would be a stream of one-span traces."""
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
    from opentelemetry.trace import SpanKind

    class RequestsOnly(Sampler):
        def should_sample(
            self,
            parent_context: Any,
            trace_id: int,
            name: str,
            kind: SpanKind | None = None,
            attributes: Any = None,
            links: Any = None,
            trace_state: Any = None,
        ) -> SamplingResult:
            if kind is SpanKind.CLIENT:
                return SamplingResult(Decision.DROP)
            return requests.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )

        def get_description(self) -> str:
            return f"RequestsOnly{{{requests.get_description()}}}"

    return RequestsOnly()
