"""/metrics: node health, routing counters and request latency in Prometheus format."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_metrics_expose_nodes_routing_and_latency(client: TestClient) -> None:
    client.get("/api/products")
    client.get("/api/products/1")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'trackr_db_node_up{node="primary",role="primary"} 1.0' in text
    assert 'trackr_db_replica_in_rotation{node="replica1"} 1.0' in text
    assert 'trackr_db_replica_lag_bytes{node="replica1"}' in text
    assert 'trackr_db_replica_lag_seconds{node="replica1"}' in text
    assert 'trackr_db_check_latency_seconds{node="replica1"}' in text
    assert 'trackr_primary_breaker_state{state="closed"} 1.0' in text
    assert 'trackr_reads_routed_total{target="replica1"}' in text
    assert "trackr_read_retries_total" in text
    assert (
        'trackr_http_request_duration_seconds_count{method="GET",'
        'route="/api/products/{product_id}",status="404"}'
    ) in text
