"""`trackr dev` (what `make run` runs) as a new user meets it: a real process, then Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.localcluster import Cluster
from app.localcluster.ports import free_port

TRACKR = str(Path(sys.executable).parent / "trackr")


@pytest.mark.slow
def test_dev_serves_seeded_api_with_replica_then_stops_on_sigint(
    tmp_path: Path, pg_dir: Path
) -> None:
    port = free_port()
    cluster_dir = pg_dir / "cluster"
    env = {k: v for k, v in os.environ.items() if k not in {"JWT_SECRET", "DATABASE_URL"}}
    process = subprocess.Popen(
        [TRACKR, "dev", "--port", str(port), "--dir", str(cluster_dir)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                health = httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "trackr dev never served /health"
                time.sleep(0.2)
        body = health.json()
        assert body["status"] == "ok"
        assert body["database"]["replicas"][0]["in_rotation"] is True
        products = httpx.get(f"{base}/api/products?limit=100").json()["items"]
        assert len(products) >= 40
        assert {p["category"] for p in products} == {"mac", "pokemon", "coins", "games"}
        assert (tmp_path / ".data" / "dev-jwt-secret").exists()
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert "Write token (12h): ey" in output
    assert "generated dev secret" in output
    assert "cluster stopped" in output
    assert all(row.state == "stopped" for row in Cluster(cluster_dir).status())
    Cluster(cluster_dir).destroy()
