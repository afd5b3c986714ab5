"""`trackr serve` as a real process: several workers, one aggregated /metrics."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.localcluster import Cluster
from tests.faults.harness import SECRET, ApiServer


@pytest.mark.slow
def test_two_workers_share_one_metrics_view(migrated: Cluster, tmp_path: Path) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {
        "APP_ENV": "test",
        "JWT_SECRET": SECRET,
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(shared),
        "LOG_LEVEL": "WARNING",
        **migrated.env(),
    }
    server = ApiServer(log_path=tmp_path / "serve.log", env=env)
    server.start()
    try:
        for _ in range(40):  # a new connection each, so both workers take requests
            assert httpx.get(f"{server.base_url}/api/products", timeout=5).status_code == 200
        text = httpx.get(f"{server.base_url}/metrics", timeout=5).text
    finally:
        server.stop()
    routed = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("trackr_reads_routed_total{")
    )
    assert routed >= 40  # counters from every worker, summed
    assert 'trackr_db_node_up{node="primary",role="primary"} 1.0' in text
    worker_files = {p.name for p in shared.glob("gauge_livemostrecent_*.db")}
    assert len(worker_files) >= 2, f"expected one file per worker, got {worker_files}"
