"""/health, /health/live and /health/ready, including a replica that is really stopped."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from app.localcluster import Cluster
from tests.support import wait_replicated


def test_health_reports_primary_latency_and_replica_lag(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["version"]
    assert body["uptime_seconds"] >= 0
    assert body["timestamp"].endswith("Z")
    primary = body["database"]["primary"]
    assert primary["status"] == "up"
    assert primary["latency_ms"] > 0
    (replica,) = body["database"]["replicas"]
    assert replica["name"] == "replica1"
    assert replica["status"] == "up"
    assert replica["in_rotation"] is True
    assert replica["lag_bytes"] >= 0
    assert replica["lag_seconds"] >= 0
    assert replica["latency_ms"] > 0


def test_live_and_ready(client: TestClient) -> None:
    assert client.get("/health/live").json() == {"status": "ok"}
    assert client.get("/health/ready").status_code == 200


def test_stopped_replica_is_degraded_and_reads_use_the_primary(
    client: TestClient, clean_db: Cluster
) -> None:
    replica = clean_db.replicas()[0]
    replica.stop("immediate")
    try:
        deadline = time.monotonic() + 10
        while client.get("/health").json()["status"] != "degraded":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        body = client.get("/health").json()
        (report,) = body["database"]["replicas"]
        assert report["status"] == "down"
        assert report["in_rotation"] is False
        assert any("replica1" in reason for reason in body["reasons"])
        read = client.get("/api/products")
        assert read.status_code == 200
        assert read.headers["X-Served-By"] == "primary"
        assert client.get("/health/ready").status_code == 200
    finally:
        replica.start()
        wait_replicated(clean_db)
    deadline = time.monotonic() + 10
    while client.get("/health").json()["status"] != "ok":
        assert time.monotonic() < deadline, "replica never came back into rotation"
        time.sleep(0.1)


def test_openapi_and_docs_are_served(client: TestClient) -> None:
    spec = client.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    assert {"/api/products", "/api/products/{product_id}", "/api/categories", "/health"} <= set(
        paths
    )
    assert client.get("/docs").status_code == 200
