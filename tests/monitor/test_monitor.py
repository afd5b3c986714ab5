"""`trackr monitor` against real `trackr serve` backends: down/up, drift, incidents, alerts,
the JSON API and /metrics, on SQLite and on PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.localcluster import Cluster
from app.localcluster.cluster import APP_DB
from app.monitor.config import MonitorSettings, WebhookConfig
from app.monitor.runner import Monitor
from app.monitor.state import Event
from app.monitor.web import create_monitor_app
from tests.faults.harness import ApiServer, api_env
from tests.monitor.backends import (
    add_products,
    create_database,
    start_backend,
    start_degraded_backend,
    truncate,
)
from tests.monitor.receiver import Receiver, webhook_receiver
from tests.support import wait_replicated

OTHER_DB = "trackr_other"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running


def settings_for(
    servers: dict[str, ApiServer], store: str, receiver: Receiver, **extra: Any
) -> MonitorSettings:
    return MonitorSettings(
        backends=[{"name": name, "url": s.base_url} for name, s in servers.items()],
        webhooks=[WebhookConfig(url=f"{receiver.base_url}/alerts")],
        database_url=store,
        failures_before_down=2,
        timeout_seconds=2,
        alert_backoff_seconds=0.05,
        **extra,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path, migrated: Cluster) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/monitor.db"
    migrated.primary().sql("DROP DATABASE IF EXISTS trackr_monitor")
    migrated.create_database("trackr_monitor")
    return migrated.env("trackr_monitor")["DATABASE_URL"]


class Dashboard:
    """The monitor's web app in a TestClient; rounds run on the app's own event loop."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.client = TestClient(create_monitor_app(monitor, poll=False))

    def __enter__(self) -> Dashboard:
        self.client.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.__exit__(*exc)

    def round(self) -> list[Event]:
        events: list[Event] = self.client.portal.call(self.monitor.check_all)  # type: ignore[union-attr]
        return events

    def status(self) -> dict[str, Any]:
        response = self.client.get("/api/status")
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        return body

    def backend(self, name: str) -> dict[str, Any]:
        return next(b for b in self.status()["backends"] if b["name"] == name)


def test_a_stopped_backend_goes_down_after_n_checks_alerts_and_comes_back(
    migrated: Cluster,
    pair: tuple[ApiServer, ApiServer],
    logs: Path,
    receiver: Receiver,
    store_url: str,
    write_token: str,
) -> None:
    a, b = pair
    monitor = Monitor(settings_for({"a": a, "b": b}, store_url, receiver))
    with Dashboard(monitor) as dash:
        assert dash.round() == []
        first = dash.backend("b")
        assert first["status"] == "up"
        assert first["health"] == "ok"
        assert first["products_by_category"] == {"mac": 0, "pokemon": 0, "coins": 0, "games": 0}
        assert first["schema_revision"]
        assert first["replica_lag_seconds"] is not None

        add_products(a, write_token, 3)
        wait_replicated(migrated)
        assert dash.round() == []
        seen = dash.backend("b")
        assert seen["product_count"] == 3
        assert seen["last_data_change"] is not None

        assert b.process is not None
        b.process.kill()
        b.process.wait()
        assert dash.round() == []  # one failure is not an outage
        assert dash.backend("b")["consecutive_failures"] == 1
        [down] = dash.round()
        assert (down.kind, down.subject) == ("down", "b")
        gone = dash.backend("b")
        assert gone["status"] == "down"
        assert "connection refused" in gone["error"]
        assert dash.backend("a")["status"] == "up"
        assert "b is DOWN" in receiver.wait_for(1)[0].body["text"]
        [incident] = dash.status()["incidents"]
        assert (incident["subject"], incident["kind"], incident["ended_at"]) == ("b", "down", None)
        metrics = dash.client.get("/metrics").text
        assert 'trackr_monitor_backend_up{backend="b"} 0.0' in metrics
        assert 'trackr_monitor_backend_up{backend="a"} 1.0' in metrics
        assert 'trackr_monitor_products{backend="a",category="mac"} 3.0' in metrics

        restarted = start_backend(migrated, logs, "b2", port=b.port)
        try:
            [up] = dash.round()
            assert (up.kind, up.subject) == ("up", "b")
            assert dash.backend("b")["status"] == "up"
            assert "b is UP again" in receiver.wait_for(2)[1].body["text"]
            [closed] = dash.status()["incidents"]
            assert closed["ended_at"] is not None
            history = dash.client.get("/api/backends/b/checks").json()
            assert [p["ok"] for p in history] == [True, True, False, False, True]
            uptime = dash.backend("b")["uptime_24h"]
            assert uptime == pytest.approx(3 / 5)
        finally:
            restarted.stop()


def test_a_restarted_monitor_resumes_an_open_incident_without_a_second_alert(
    pair: tuple[ApiServer, ApiServer], receiver: Receiver, store_url: str
) -> None:
    a, b = pair
    assert b.process is not None
    b.process.kill()
    b.process.wait()
    settings = settings_for({"a": a, "b": b}, store_url, receiver)
    with Dashboard(Monitor(settings)) as dash:
        dash.round()
        assert [e.kind for e in dash.round()] == ["down"]
    receiver.wait_for(1)
    with Dashboard(Monitor(settings)) as again:
        assert again.backend("b")["status"] == "down"
        assert again.round() == []
    assert len(receiver.received) == 1


@pytest.fixture
def other(migrated: Cluster, logs: Path) -> Iterator[ApiServer]:
    """A backend on a database of its own: its data is not the first backend's."""
    create_database(migrated, OTHER_DB)
    truncate(migrated, OTHER_DB)
    server = start_backend(migrated, logs, "other", database=OTHER_DB)
    yield server
    server.stop()


def test_two_backends_on_different_data_raise_drift_and_recover(
    migrated: Cluster,
    pair: tuple[ApiServer, ApiServer],
    other: ApiServer,
    receiver: Receiver,
    tmp_path: Path,
    write_token: str,
) -> None:
    primary, _ = pair
    add_products(primary, write_token, 5)
    add_products(other, write_token, 2)
    wait_replicated(migrated)
    settings = settings_for(
        {"render": primary, "railway": other}, f"sqlite:///{tmp_path}/m.db", receiver
    )
    with Dashboard(Monitor(settings)) as dash:
        assert dash.round() == []  # one disagreeing round may be replication catching up
        [drifted] = dash.round()
        assert drifted.kind == "drifted"
        drift = dash.status()["drift"]
        assert drift["drifted"] is True
        assert drift["differences"] == ["mac products differ: render=5, railway=2"]
        alert = receiver.wait_for(1)[0].body
        assert alert["kind"] == "drifted"
        assert "render=5, railway=2" in alert["detail"]

        add_products(other, write_token, 3)
        wait_replicated(migrated)
        [recovered] = dash.round()
        assert recovered.kind == "recovered"
        assert dash.status()["drift"]["drifted"] is False
        assert receiver.wait_for(2)[1].body["kind"] == "recovered"
        kinds = [(i["subject"], i["kind"]) for i in dash.status()["incidents"]]
        assert kinds == [("drift", "drift")]


def test_api_errors_are_problem_json(pair: tuple[ApiServer, ApiServer], tmp_path: Path) -> None:
    a, _ = pair
    with webhook_receiver() as receiver:
        settings = settings_for({"a": a}, f"sqlite:///{tmp_path}/m.db", receiver)
        with Dashboard(Monitor(settings)) as dash:
            missing = dash.client.get("/api/backends/nope/checks")
            assert missing.status_code == 404
            assert missing.headers["content-type"] == "application/problem+json"
            bad = dash.client.get("/api/incidents", params={"limit": "lots"})
            assert bad.status_code == 422
            assert bad.headers["content-type"] == "application/problem+json"
            page = dash.client.get("/")
            assert page.status_code == 200
            assert "trackr monitor" in page.text


BACKUPS_DB = "trackr_backups_seen"


def test_each_backend_shows_its_backups_as_its_health_reports_them(
    migrated: Cluster, logs: Path, receiver: Receiver, tmp_path: Path
) -> None:
    create_database(migrated, BACKUPS_DB)
    migrated.primary().sql(
        "INSERT INTO backup_events (kind, ok, backup_id, finished_at) VALUES "
        "('backup', true, 'b1', now() - interval '2 hours'), "
        "('verify', true, 'b1', now() - interval '1 hour'), "
        "('verify', false, 'b1', now() - interval '5 minutes')",
        dbname=BACKUPS_DB,
    )
    wait_replicated(migrated)
    env = {**api_env(migrated, BACKUPS_DB), "BACKUP_STATUS_INTERVAL_SECONDS": "0.2"}
    server = ApiServer(env, logs / "monitor-backups.log")
    server.start()
    try:
        deadline = time.monotonic() + 20
        while httpx.get(f"{server.base_url}/health").json().get("backups") is None:
            assert time.monotonic() < deadline, "the backend never read its backups' state"
            time.sleep(0.1)
        settings = settings_for({"site": server}, f"sqlite:///{tmp_path}/m.db", receiver)
        with Dashboard(Monitor(settings)) as dash:
            dash.round()
            seen = dash.backend("site")
    finally:
        server.stop()
    now = datetime.now(UTC)
    backup_age = now - datetime.fromisoformat(seen["last_backup_at"])
    verify_age = now - datetime.fromisoformat(seen["last_verify_at"])
    assert timedelta(hours=1, minutes=59) < backup_age < timedelta(hours=2, minutes=1)
    assert timedelta(minutes=59) < verify_age < timedelta(hours=1, minutes=1)
    assert seen["last_verify_ok"] is False  # the latest verify failed; the last good one shows
    assert seen["wal_archive_streaming"] is False  # nothing streams this cluster's WAL here


def test_a_degraded_backend_is_its_own_state_incident_and_alert(
    migrated: Cluster, logs: Path, receiver: Receiver, tmp_path: Path
) -> None:
    """Its primary out of reach, its replica serving: answering, but not whole. It is shown,
    alerted and counted as degraded, not as up."""
    truncate(migrated, APP_DB)
    a = start_backend(migrated, logs, "whole")
    d = start_degraded_backend(migrated, logs, "degraded")
    servers = [a, d]
    try:
        settings = settings_for({"a": a, "d": d}, f"sqlite:///{tmp_path}/m.db", receiver)
        with Dashboard(Monitor(settings)) as dash:
            [event] = dash.round()  # answering but not whole: known at the first check
            assert (event.kind, event.subject) == ("degraded", "d")
            assert dash.round() == []
            seen = dash.backend("d")
            assert (seen["status"], seen["health"]) == ("degraded", "degraded")
            assert "writes fail" in seen["error"]
            assert (seen["uptime_24h"], seen["healthy_24h"]) == (1.0, 0.0)
            assert dash.backend("a")["healthy_24h"] == 1.0
            assert [p["degraded"] for p in seen["history"]] == [True, True]
            assert "d is DEGRADED" in receiver.wait_for(1)[0].body["text"]
            [incident] = dash.status()["incidents"]
            assert (incident["subject"], incident["kind"], incident["ended_at"]) == (
                "d", "degraded", None,
            )  # fmt: skip
            drift = dash.status()["drift"]
            assert (drift["compared"], drift["not_compared"]) == (["a", "d"], [])
            metrics = dash.client.get("/metrics").text
            assert 'trackr_monitor_backend_degraded{backend="d"} 1.0' in metrics
            assert 'trackr_monitor_backend_up{backend="d"} 1.0' in metrics  # answering
            assert 'trackr_monitor_healthy_ratio{backend="d",window="24h"} 0.0' in metrics

            d.stop()
            servers.append(whole := start_backend(migrated, logs, "d-whole", port=d.port))
            [healthy] = dash.round()
            assert (healthy.kind, healthy.subject) == ("healthy", "d")
            assert "d is fully healthy again" in receiver.wait_for(2)[1].body["text"]
            [closed] = dash.status()["incidents"]
            assert closed["ended_at"] is not None
            assert dash.backend("d")["healthy_24h"] == pytest.approx(1 / 3)
            whole.stop()
            dash.round()
            drift = dash.status()["drift"]
            assert (drift["compared"], drift["not_compared"]) == (["a"], ["d"])
    finally:
        for server in servers:
            server.stop()


def test_a_traced_round_is_a_span_with_each_probe_under_it(
    pair: tuple[ApiServer, ApiServer], receiver: Receiver, tmp_path: Path
) -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    from app.tracing import provider

    spans = InMemorySpanExporter()
    traced = provider(requests_only=False, service="trackr-monitor")
    traced.add_span_processor(SimpleSpanProcessor(spans))
    a, b = pair
    settings = settings_for({"a": a, "b": b}, f"sqlite:///{tmp_path}/m.db", receiver)
    with Dashboard(Monitor(settings, traced)) as dash:
        dash.round()
    finished = spans.get_finished_spans()
    [round_span] = [s for s in finished if s.name == "monitor round"]
    assert round_span.context is not None
    probes = [s for s in finished if s.kind is SpanKind.CLIENT]
    assert probes
    assert all(
        s.parent is not None and s.parent.span_id == round_span.context.span_id for s in probes
    )
    urls = {
        str((s.attributes or {}).get("http.url", (s.attributes or {}).get("url.full")))
        for s in probes
    }
    for server in (a, b):
        assert f"{server.base_url}/health" in urls
        assert f"{server.base_url}/api/stats" in urls
