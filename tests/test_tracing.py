"""OpenTelemetry traces (app/tracing.py) on the real cluster: spans captured by the SDK's
in-memory exporter for a by-id read on the fast path, a token read sent to the primary, a
write and a retried read; the trace id in the log lines; none for /health and /metrics; and
a real OTLP/HTTP export from `trackr serve` to a receiver on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from trackr_client import TrackrClient

from app.config import Settings
from app.localcluster import Cluster
from app.localcluster.ports import free_port
from app.main import create_app
from app.tracing import Tracing, _sampled_share, tracing_requested
from tests.conftest import make_settings
from tests.faults.harness import ApiServer, api_env
from tests.support import bearer, wait_replicated

MAC = {"category": "mac", "name": "iMac", "price": 1299,
       "attributes": {"model": "iMac 24", "chip": "M3"}}  # fmt: skip
BY_ID = "GET /api/products/{product_id}"


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def traced(
    settings: Settings,
    clean_db: Cluster,
    spans: InMemorySpanExporter,
) -> Iterator[TestClient]:
    tracing = Tracing(SimpleSpanProcessor(spans))
    json_logs = settings.model_copy(update={"log_format": "json", "log_level": "INFO"})
    with TestClient(create_app(json_logs, tracing), raise_server_exceptions=False) as client:
        yield client


def _server(spans: InMemorySpanExporter, name: str) -> ReadableSpan:
    found = [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    named = [s for s in found if s.name == name]
    assert named, f"no server span {name!r} among {[s.name for s in found]}"
    return named[-1]


def _children(spans: InMemorySpanExporter, parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [
        s
        for s in spans.get_finished_spans()
        if s.parent is not None and s.parent.span_id == parent.context.span_id
    ]


def test_tracing_is_on_only_when_the_environment_asks() -> None:
    assert not tracing_requested({})
    assert tracing_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing_requested({"OTEL_TRACES_EXPORTER": "otlp"})
    assert not tracing_requested({"OTEL_TRACES_EXPORTER": "none",
                                  "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})  # fmt: skip
    assert not tracing_requested({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"})
    assert not tracing_requested({"OTEL_TRACES_EXPORTER": "console"})  # OTLP is what ships


def test_the_sampled_share_is_read_with_care() -> None:
    assert _sampled_share(None) == 1.0
    assert _sampled_share("0.05") == 0.05
    assert _sampled_share("lots") == 1.0  # said in the log, never fatal
    assert _sampled_share("5") == 1.0


def test_a_write_and_a_by_id_read_on_the_fast_path(
    traced: TestClient,
    settings: Settings,
    clean_db: Cluster,
    spans: InMemorySpanExporter,
) -> None:
    created = traced.post("/api/products", json=MAC, headers=bearer(settings, "products:write"))
    assert created.status_code == 201
    write = _server(spans, "POST /api/products")
    assert write.attributes is not None
    assert write.attributes["http.route"] == "/api/products"
    assert write.attributes["trackr.served_by"] == "primary"
    statements = [s for s in _children(spans, write) if s.kind is SpanKind.CLIENT]
    assert any("INSERT" in str((s.attributes or {}).get("db.statement")) for s in statements)
    assert not any(s.name.endswith(("receive", "send")) for s in spans.get_finished_spans())

    wait_replicated(clean_db)
    spans.clear()
    read = traced.get(f"/api/products/{created.json()['id']}")
    assert read.status_code == 200
    served = _server(spans, BY_ID)  # the fast path's span, with its route
    assert served.attributes is not None
    assert served.attributes["http.route"] == "/api/products/{product_id}"
    assert served.attributes["trackr.served_by"] == "replica:replica1"
    assert served.attributes["trackr.consistency_token"] is False
    assert served.attributes["trackr.read_retried"] is False
    queries = [s for s in _children(spans, served) if s.kind is SpanKind.CLIENT]
    assert any("FROM products" in str((q.attributes or {}).get("db.statement")) for q in queries)
    # Only requests start traces: the replica monitor's checks meanwhile made none.
    assert all(
        s.parent is not None for s in spans.get_finished_spans() if s.kind is not SpanKind.SERVER
    )


def test_a_token_read_the_replica_has_not_replayed_goes_to_the_primary(
    traced: TestClient, settings: Settings, clean_db: Cluster, spans: InMemorySpanExporter
) -> None:
    replica = clean_db.replicas()[0]
    replica.sql("SELECT pg_wal_replay_pause()")
    try:
        created = traced.post("/api/products", json=MAC, headers=bearer(settings, "products:write"))
        token = created.headers["X-Consistency-Token"]
        spans.clear()
        read = traced.get(
            f"/api/products/{created.json()['id']}", headers={"X-Consistency-Token": token}
        )
        assert read.headers["X-Served-By"] == "primary"
    finally:
        replica.sql("SELECT pg_wal_replay_resume()")
        wait_replicated(clean_db)
    span = _server(spans, BY_ID)
    assert span.attributes is not None
    assert span.attributes["trackr.consistency_token"] is True
    assert span.attributes["trackr.token_forced_primary"] is True
    assert span.attributes["trackr.served_by"] == "primary"


def test_a_read_retried_after_its_connection_was_cut_says_so(
    traced: TestClient, clean_db: Cluster, spans: InMemorySpanExporter
) -> None:
    assert traced.get("/api/products").status_code == 200  # a pooled replica connection
    clean_db.replicas()[0].sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'trackr-api'"
    )
    spans.clear()
    assert traced.get("/api/products").status_code == 200
    span = _server(spans, "GET /api/products")
    assert span.attributes is not None
    assert span.attributes["trackr.read_retried"] is True
    statements = [s for s in _children(spans, span) if s.kind is SpanKind.CLIENT]
    assert len(statements) >= 2  # the failed statement and its retry


def test_health_and_metrics_are_not_traced(traced: TestClient, spans: InMemorySpanExporter) -> None:
    for path in ("/health", "/health/live", "/health/ready", "/metrics"):
        traced.get(path)
    assert [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER] == []
    traced.get("/api/categories")
    assert _server(spans, "GET /api/categories")


class _Receiver(ThreadingHTTPServer):
    """An OTLP/HTTP traces endpoint: keeps what it is sent."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.requests: list[ExportTraceServiceRequest] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def spans(self, name: str | None = None) -> list[Any]:
        """Every span received (protobuf), or those so named."""
        return [
            span
            for request in self.requests
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
            if name is None or span.name == name
        ]

    def span_names(self) -> set[str]:
        return {span.name for span in self.spans()}

    def trace_ids(self, name: str) -> set[str]:
        return {span.trace_id.hex() for span in self.spans(name)}

    def parents(self, name: str) -> list[tuple[str, str]]:
        """(trace id, parent span id) of every span so named."""
        return [(span.trace_id.hex(), span.parent_span_id.hex()) for span in self.spans(name)]

    def services(self) -> set[str]:
        return {
            attribute.value.string_value
            for request in self.requests
            for resource in request.resource_spans
            for attribute in resource.resource.attributes
            if attribute.key == "service.name"
        }


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/v1/traces":
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            self.server.requests.append(request)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_trackr_serve_exports_its_spans_over_otlp_http(clean_db: Cluster, tmp_path: Path) -> None:
    receiver = _Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    env = {
        **api_env(clean_db),
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_SERVICE_NAME": "trackr-test",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "json",
    }
    server = ApiServer(env, tmp_path / "traced.log")
    server.start()
    try:
        answered = httpx.get(f"{server.base_url}/api/categories", timeout=5)
        assert answered.status_code == 200
        deadline = time.monotonic() + 20
        while "GET /api/categories" not in receiver.span_names():
            assert time.monotonic() < deadline, f"received {receiver.span_names()}"
            time.sleep(0.1)
    finally:
        server.stop()
        receiver.shutdown()
    assert receiver.services() == {"trackr-test"}
    assert not any(name.startswith("GET /health") for name in receiver.span_names())
    # The request's log line carries the trace the receiver got.
    lines = [json.loads(line) for line in server.log_path.read_text().splitlines() if "{" in line]
    [access] = [line for line in lines if line.get("path") == "/api/categories"]
    assert access["trace_id"] in receiver.trace_ids("GET /api/categories")
    assert access["request_id"] == answered.headers["x-request-id"]


def test_the_failover_clients_attempts_are_spans_the_servers_span_joins(
    clean_db: Cluster, tmp_path: Path
) -> None:
    receiver = _Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    env = {
        **api_env(clean_db),
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    server = ApiServer(env, tmp_path / "traced.log")
    server.start()
    spans = InMemorySpanExporter()
    client_provider = TracerProvider()
    client_provider.add_span_processor(SimpleSpanProcessor(spans))
    dead = f"http://127.0.0.1:{free_port()}"
    try:
        with TrackrClient([dead, server.base_url], tracer_provider=client_provider) as api:
            api.list_products()
        deadline = time.monotonic() + 20
        while "GET /api/products" not in receiver.span_names():
            assert time.monotonic() < deadline, f"received {receiver.span_names()}"
            time.sleep(0.1)
    finally:
        server.stop()
        receiver.shutdown()
    [call] = [s for s in spans.get_finished_spans() if s.name == "trackr GET"]
    attempts = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert [(s.attributes or {}).get("server.address") for s in attempts] == [
        dead, server.base_url,
    ]  # fmt: skip
    assert call.context is not None
    assert all(s.parent is not None and s.parent.span_id == call.context.span_id for s in attempts)
    refused, answered = attempts
    assert refused.status.status_code is StatusCode.ERROR
    assert "ConnectError" in (refused.status.description or "")
    assert (answered.attributes or {})["http.response.status_code"] == 200
    # The server's span is in the client's trace, under the attempt that reached it.
    assert answered.context is not None
    [(trace_id, parent)] = receiver.parents("GET /api/products")
    assert trace_id == f"{answered.context.trace_id:032x}"
    assert parent == f"{answered.context.span_id:016x}"


def test_a_read_that_fails_over_to_the_primary_says_so(
    clean_db: Cluster, spans: InMemorySpanExporter
) -> None:
    """The replica hangs (SIGSTOP) after the monitor judged it healthy: the read times out,
    is retried, then moves to the primary; its span says all three."""
    settings = make_settings(
        clean_db, replica_read_timeout_seconds=0.5, replica_check_interval_seconds=60
    )
    replica = clean_db.replicas()[0]
    with TestClient(create_app(settings, Tracing(SimpleSpanProcessor(spans)))) as client:
        assert client.get("/api/categories").headers["X-Served-By"] == "replica:replica1"
        spans.clear()
        replica.freeze()
        try:
            read = client.get("/api/categories")
        finally:
            replica.thaw()
    assert read.status_code == 200
    assert read.headers["X-Served-By"] == "primary"
    span = _server(spans, "GET /api/categories")
    assert span.attributes is not None
    assert span.attributes["trackr.served_by"] == "primary"
    assert span.attributes["trackr.read_retried"] is True
    assert span.attributes["trackr.read_moved"] is True
