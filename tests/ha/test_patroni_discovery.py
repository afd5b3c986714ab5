"""PATRONI_URLS: the read pool follows Patroni's membership, and /health shows its view."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import asyncpg
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.localcluster.ha import HaCluster
from app.main import create_app
from tests.faults.harness import SECRET
from tests.ha.drills import HaStage

pytestmark = pytest.mark.slow


def _settings(cluster: HaCluster, **overrides: Any) -> Settings:
    env = cluster.env()
    values: dict[str, Any] = {
        "app_env": "test",
        "jwt_secret": SECRET,
        "database_url": env["DATABASE_URL"],
        "patroni_urls": env["PATRONI_URLS"],
        "replica_check_interval_seconds": 0.2,
        "log_level": "WARNING",
        **overrides,
    }
    return Settings.model_validate(values)


@pytest.fixture
def client(ha_stage: HaStage) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(ha_stage.cluster))) as test_client:
        yield test_client


def _wait_health(
    client: TestClient, test: Callable[[dict[str, Any]], bool], timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get("/health").json()
        if test(body):
            return body
        assert time.monotonic() < deadline, f"/health never matched: {body}"
        time.sleep(0.1)


def _in_rotation(body: dict[str, Any]) -> set[str]:
    return {r["name"] for r in body["database"]["replicas"] if r["in_rotation"]}


def test_replicas_come_from_patroni_and_health_shows_its_view(
    client: TestClient, ha_stage: HaStage
) -> None:
    members = ha_stage.cluster.wait_healthy(len(ha_stage.cluster.nodes), 90)
    leader = next(m for m in members if m.is_leader)
    replica = next(m for m in members if not m.is_leader)
    body = _wait_health(client, lambda b: _in_rotation(b) == {replica.name})
    patroni = body["patroni"]
    assert patroni["leader"] == leader.name
    assert patroni["timeline"] == leader.timeline
    assert {m["name"] for m in patroni["members"]} == {m.name for m in members}
    assert patroni["error"] is None
    assert body["status"] == "ok", body["reasons"]
    read = client.get(f"/api/products/{ha_stage.seeded_ids[0]}")
    assert read.headers["X-Served-By"] == f"replica:{replica.name}"


def test_the_pool_follows_a_switchover_without_a_restart(
    client: TestClient, ha_stage: HaStage
) -> None:
    cluster = ha_stage.cluster
    members = cluster.wait_healthy(len(cluster.nodes), 90)
    old_leader = next(m for m in members if m.is_leader)
    _wait_health(client, lambda b: old_leader.name not in _in_rotation(b))
    new_leader = cluster.switchover()
    # The promoted node leaves the replica set; the old leader joins once it streams.
    body = _wait_health(
        client,
        lambda b: (
            b["patroni"]["leader"] == new_leader.name and _in_rotation(b) == {old_leader.name}
        ),
        timeout=60,
    )
    promoted = next(r for r in body["database"]["replicas"] if r["name"] == new_leader.name)
    assert not promoted["in_rotation"]
    read = client.get(f"/api/products/{ha_stage.seeded_ids[0]}")
    assert read.headers["X-Served-By"] == f"replica:{old_leader.name}"


def test_an_unreachable_patroni_api_is_reported_and_reads_still_work(
    ha_stage: HaStage,
) -> None:
    settings = _settings(ha_stage.cluster, patroni_urls="http://127.0.0.1:9/")
    with TestClient(create_app(settings)) as client:
        body = client.get("/health").json()
        assert body["patroni"]["error"].startswith("no Patroni REST API answered")
        assert any("Patroni" in reason for reason in body["reasons"])
        read = client.get(f"/api/products/{ha_stage.seeded_ids[0]}")
        assert read.status_code == 200
        assert read.headers["X-Served-By"] == "primary"


def test_the_app_role_sees_the_synchronous_standbys_position(ha_stage: HaStage) -> None:
    """A write's consistency token is the smaller of the insert position and the synchronous
    standby's flush position (app/db/positions.py): exact only if the app's role can read
    that position, which the cluster grants it (pg_read_all_stats)."""
    cluster = ha_stage.cluster
    cluster.wait_healthy(len(cluster.nodes), 90)
    writer = cluster.env()["DATABASE_URL"]

    async def visible_sync_positions() -> int:
        connection = await asyncpg.connect(writer)
        try:
            count: int = await connection.fetchval(
                "SELECT count(flush_lsn) FROM pg_stat_get_wal_senders() "
                "WHERE sync_state IN ('sync', 'quorum')"
            )
            return count
        finally:
            await connection.close()

    assert asyncio.run(visible_sync_positions()) == 1
