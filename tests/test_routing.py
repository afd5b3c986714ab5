"""Reads go to the replica, writes to the primary, and a consistency token is never stale.

The replica's replay is paused for real (pg_wal_replay_pause), so "stale" is observable.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.localcluster import Cluster
from app.main import create_app
from tests.conftest import make_settings
from tests.support import bearer, wait_replicated

MAC = {"category": "mac", "name": "iMac", "price": 1299,
       "attributes": {"model": "iMac 24", "chip": "M3"}}  # fmt: skip


@pytest.fixture
def paused_replica(clean_db: Cluster) -> Iterator[Cluster]:
    replica = clean_db.replicas()[0]
    replica.sql("SELECT pg_wal_replay_pause()")
    try:
        yield clean_db
    finally:
        replica.sql("SELECT pg_wal_replay_resume()")
        wait_replicated(clean_db)


def test_reads_are_served_by_the_replica_and_writes_by_the_primary(
    client: TestClient, settings: Settings
) -> None:
    write = client.post("/api/products", json=MAC, headers=bearer(settings, "products:write"))
    assert write.headers["X-Served-By"] == "primary"
    read = client.get("/api/products")
    assert read.headers["X-Served-By"] == "replica:replica1"


def test_paused_replay_stale_without_token_fresh_with_it(
    paused_replica: Cluster, client: TestClient, settings: Settings
) -> None:
    auth = bearer(settings, "products:write")
    created = client.post("/api/products", json=MAC, headers=auth)
    assert created.status_code == 201
    token = created.headers["X-Consistency-Token"]
    product_id = created.json()["id"]

    stale = client.get(f"/api/products/{product_id}")
    assert stale.headers["X-Served-By"] == "replica:replica1"
    assert stale.status_code == 404  # the replica has not replayed the insert

    fresh = client.get(f"/api/products/{product_id}", headers={"X-Consistency-Token": token})
    assert fresh.status_code == 200
    assert fresh.headers["X-Served-By"] == "primary"

    paused_replica.replicas()[0].sql("SELECT pg_wal_replay_resume()")
    deadline = time.monotonic() + 10
    while True:  # the monitor sees the replay position advance within a check or two
        again = client.get(f"/api/products/{product_id}", headers={"X-Consistency-Token": token})
        if again.headers["X-Served-By"] == "replica:replica1":
            break
        assert time.monotonic() < deadline, "reads never returned to the replica"
        time.sleep(0.1)
    assert again.status_code == 200
    assert client.get("/api/products").headers["X-Served-By"] == "replica:replica1"


def test_token_from_a_write_is_a_wal_position(client: TestClient, settings: Settings) -> None:
    created = client.post("/api/products", json=MAC, headers=bearer(settings, "products:write"))
    token = created.headers["X-Consistency-Token"]
    high, _, low = token.partition("/")
    int(high, 16), int(low, 16)


def test_reads_fall_back_to_the_primary_when_no_replica_is_configured(
    clean_db: Cluster, settings: Settings
) -> None:
    from app.main import create_app

    alone = settings.model_copy(update={"database_replica_urls": ""})
    with TestClient(create_app(alone)) as client:
        response = client.get("/api/products")
        assert response.status_code == 200
        assert response.headers["X-Served-By"] == "primary"
        assert client.get("/health").json()["status"] == "ok"


def test_multi_host_database_url_finds_the_writer(clean_db: Cluster, settings: Settings) -> None:
    from app.main import create_app

    primary, replica = clean_db.primary(), clean_db.replicas()[0]
    password = clean_db.env()["DATABASE_URL"].split(":")[2].split("@")[0]
    multi = (
        f"postgresql://trackr:{password}@127.0.0.1:{replica.port},127.0.0.1:{primary.port}"
        "/trackr?target_session_attrs=read-write"
    )
    with TestClient(create_app(settings.model_copy(update={"database_url": multi}))) as client:
        created = client.post("/api/products", json=MAC, headers=bearer(settings, "products:write"))
        assert created.status_code == 201, created.text
        assert client.get("/health").json()["database"]["primary"]["status"] == "up"


def test_a_token_the_replica_has_replayed_is_served_there_before_the_monitor_knows(
    clean_db: Cluster, settings: Settings
) -> None:
    """The monitor checks replay positions once an interval; in between, a token read asks
    the freshest replica live instead of sending every read-your-writes read to the primary."""
    slow_monitor = make_settings(clean_db, replica_check_interval_seconds=3600)
    with TestClient(create_app(slow_monitor)) as client:
        created = client.post("/api/products", json=MAC, headers=bearer(settings, "products:write"))
        token = created.headers["X-Consistency-Token"]
        wait_replicated(clean_db)
        read = client.get(
            f"/api/products/{created.json()['id']}", headers={"X-Consistency-Token": token}
        )
        assert read.status_code == 200
        assert read.headers["X-Served-By"] == "replica:replica1"
