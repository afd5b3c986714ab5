"""`trackr serve` as a real process: several workers, one aggregated /metrics."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from app.localcluster import Cluster
from tests.faults.harness import SECRET, ApiServer, api_env


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
        # A new connection each, so both workers take requests; past the read cache, so
        # every read is routed.
        for _ in range(40):
            read = httpx.get(
                f"{server.base_url}/api/products", headers={"Cache-Control": "no-cache"}, timeout=5
            )
            assert read.status_code == 200
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


@pytest.mark.slow
def test_sigterm_drains_first_ready_turns_503_while_requests_are_still_served(
    migrated: Cluster, tmp_path: Path
) -> None:
    env = api_env(migrated)
    server = ApiServer({**env, "SHUTDOWN_DRAIN_SECONDS": "2"}, tmp_path / "serve.log")
    server.start()
    assert server.process is not None
    try:
        server.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 1.5
        ready = httpx.get(f"{server.base_url}/health/ready", timeout=2)
        assert (ready.status_code, ready.json()) == (503, {"status": "draining"})
        while time.monotonic() < deadline:  # still serving during the drain
            assert httpx.get(f"{server.base_url}/api/products", timeout=2).status_code == 200
            time.sleep(0.1)
        assert server.process.wait(timeout=20) in {0, -signal.SIGTERM}
        assert "draining for 2.0 s" in server.log_path.read_text()
    finally:
        server.stop()


@pytest.mark.slow
def test_a_second_sigterm_stops_at_once(migrated: Cluster, tmp_path: Path) -> None:
    env = api_env(migrated)
    server = ApiServer({**env, "SHUTDOWN_DRAIN_SECONDS": "60"}, tmp_path / "serve.log")
    server.start()
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=20) in {0, -signal.SIGTERM}
    assert time.monotonic() - started < 10
