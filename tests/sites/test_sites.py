"""Three sites serving one catalogue (`trackr cluster up --sites`): each site's API answers
from its own node, a write at one site is read with its token at another, and a partitioned
replica site costs the others nothing."""

from __future__ import annotations

import time

import httpx
import pytest

from app.auth import create_token
from app.config import Settings
from app.localcluster.sites import SitesCluster
from tests.faults.harness import SECRET
from tests.sites.conftest import GRACE, SITES

pytestmark = pytest.mark.slow

BODY = {"category": "games", "name": "Sites", "price": 3, "attributes": {"platform": "GB"}}


def _auth() -> dict[str, str]:
    settings = Settings(app_env="test", jwt_secret=SECRET)
    return {"Authorization": f"Bearer {create_token(settings, ['products:write'], 600)}"}


def test_three_sites_one_leader_each_api_at_its_site(sites: SitesCluster) -> None:
    lines = sites.status_lines()
    assert [line.split()[0] for line in lines] == SITES
    assert lines[0].split()[1] == "leader"  # the active site leads
    for site in SITES:
        deadline = time.monotonic() + 30  # after the drills, replicas rise back in turn
        while True:
            health = httpx.get(f"{sites.api_url(site)}/health", timeout=5).json()
            # A node that led once keeps its (excluded) entry: the drills move the lead.
            serving = {r["site"] for r in health["database"]["replicas"] if r["in_rotation"]}
            if serving == {"railway", "fly"} or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert health["site"] == site
        assert health["database"]["primary"]["site"] == "render"
        assert serving == {"railway", "fly"}, health


def test_a_write_at_one_site_is_read_with_its_token_at_another(sites: SitesCluster) -> None:
    written = httpx.post(
        f"{sites.api_url('railway')}/api/products", json=BODY, headers=_auth(), timeout=10
    )
    assert written.status_code == 201, written.text
    token = written.headers["X-Consistency-Token"]
    read = httpx.get(
        f"{sites.api_url('fly')}/api/products/{written.json()['id']}",
        headers={"X-Consistency-Token": token},
        timeout=10,
    )
    assert read.status_code == 200, read.text
    plain = httpx.get(f"{sites.api_url('fly')}/api/products?limit=1", timeout=10)
    assert plain.headers["X-Served-By"] == "replica:fly"  # nearest: its own site's node


def test_a_partitioned_replica_site_costs_the_others_nothing(sites: SitesCluster) -> None:
    sites.partition("fly")
    try:
        for site in ("render", "railway"):
            for _ in range(5):
                written = httpx.post(
                    f"{sites.api_url(site)}/api/products", json=BODY, headers=_auth(), timeout=10
                )
                assert written.status_code == 201, written.text
                read = httpx.get(f"{sites.api_url(site)}/api/products?limit=5", timeout=10)
                assert read.status_code == 200
        # Its clients still reach it: the partition cuts only the inter-site link.
        assert httpx.get(f"{sites.api_url('fly')}/health/live", timeout=5).status_code == 200
        # It knows it is cut off, and past the grace it refuses reads that may be stale.
        refused = _wait_for_status(sites.api_url("fly") + "/api/products?limit=1", 503)
        assert refused.headers["Retry-After"]
        assert refused.json()["type"] == "/problems/site-cut-off"
        assert "cut off from the other sites" in refused.json()["detail"]
        # Writes are refused at once, grace or not: no commit there could reach another site.
        started = time.monotonic()
        write = httpx.post(
            f"{sites.api_url('fly')}/api/products", json=BODY, headers=_auth(), timeout=10
        )
        assert write.status_code == 503
        assert write.json()["type"] == "/problems/site-cut-off"
        assert time.monotonic() - started < 1.0
        health = httpx.get(f"{sites.api_url('fly')}/health", timeout=5)
        assert health.status_code == 503
        assert any("cut off" in reason for reason in health.json()["reasons"])
    finally:
        sites.heal("fly")
    sites.wait_healthy(len(SITES), 90)
    served = _wait_for_status(sites.api_url("fly") + "/api/products?limit=1", 200)
    assert served.headers["X-Served-By"] == "replica:fly"


def _wait_for_status(url: str, status: int, timeout: float = GRACE + 15) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(url, timeout=5)
        if response.status_code == status or time.monotonic() > deadline:
            assert response.status_code == status, response.text
            return response
        time.sleep(0.25)
