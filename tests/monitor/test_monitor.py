"""`trackr monitor` against real `trackr serve` backends: down/up, drift, incidents, alerts,
the JSON API and /metrics, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.localcluster import Cluster
from app.monitor.config import MonitorSettings, WebhookConfig
from app.monitor.runner import Monitor
from app.monitor.state import Event
from app.monitor.web import create_monitor_app
from tests.faults.harness import ApiServer
from tests.monitor.backends import (
    add_products,
    create_database,
    start_backend,
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
