"""What a write costs across a WAN: sequential writes and reads through the leader's site's
API and a replica site's, on a three-site cluster whose inter-site round trip is `rtt_ms`
(app.localcluster.latency). Used by `make sites-report`."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.auth import create_token
from app.config import Settings
from app.localcluster.sites import SitesCluster

WRITES = 60
READS = 60
BODY = {"category": "games", "name": "wan", "price": 1, "attributes": {"platform": "GB"}}


@dataclass
class WanCost:
    rtt_ms: float
    write_ms: dict[str, tuple[float, float]]  # site -> (p50, p95), sequential POSTs
    read_ms: dict[str, float]  # site -> p50 of plain reads by id


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return round(statistics.median(ordered), 1), round(p95, 1)


def measure(base: Path, sites: list[str], rtt_ms: float, secret: str) -> WanCost:
    """A fresh cluster with `rtt_ms` between its sites; every figure in milliseconds."""
    cluster = SitesCluster(base / f"wan-{rtt_ms:g}")
    try:
        cluster.up(sites, {"JWT_SECRET": secret}, rtt_ms=rtt_ms)
        token = create_token(Settings(app_env="test", jwt_secret=secret), ["products:write"], 600)
        auth = {"Authorization": f"Bearer {token}"}
        leader_site, replica_site = sites[0], sites[1]
        cost = WanCost(rtt_ms, {}, {})
        for site in (leader_site, replica_site):
            with httpx.Client(base_url=cluster.api_url(site), timeout=30) as api:
                api.post("/api/products", json=BODY, headers=auth).raise_for_status()  # warm
                writes, ids = [], []
                for _ in range(WRITES):
                    started = time.perf_counter()
                    response = api.post("/api/products", json=BODY, headers=auth)
                    writes.append((time.perf_counter() - started) * 1000)
                    response.raise_for_status()
                    ids.append(response.json()["id"])
                time.sleep(1)  # replicated: plain reads of these ids find them
                reads = []
                for n in range(READS):
                    started = time.perf_counter()
                    api.get(f"/api/products/{ids[n % len(ids)]}").raise_for_status()
                    reads.append((time.perf_counter() - started) * 1000)
            cost.write_ms[site] = _percentiles(writes)
            cost.read_ms[site] = round(statistics.median(reads), 1)
        return cost
    finally:
        cluster.down()
