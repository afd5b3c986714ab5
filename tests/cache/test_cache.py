"""The read cache in one process, on the real primary + replica: hits, 304s, read-your-writes
with tokens, invalidation by the primary's NOTIFY (an API write or plain SQL), the memory
tier bypassed while the channel is down."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.localcluster import Cluster
from app.main import create_app
from tests.conftest import make_settings
from tests.support import bearer, wait_replicated

GAME = {"category": "games", "name": "Tetris", "price": 30, "attributes": {"platform": "GB"}}


@pytest.fixture
def cached(clean_db: Cluster) -> Iterator[TestClient]:
    settings = make_settings(clean_db, cache_enabled=True, cache_ttl_seconds=60)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        client.headers.update(bearer(settings, "products:write"))
        yield client


def _create(client: TestClient, **changes: Any) -> dict[str, Any]:
    response = client.post("/api/products", json={**GAME, **changes})
    assert response.status_code == 201, response.text
    return {**response.json(), "_token": response.headers["x-consistency-token"]}


def _eventually(check: Callable[[], bool], seconds: float = 5.0) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, "never happened"
        time.sleep(0.02)
    return time.monotonic() - started


def test_a_second_read_is_a_hit_with_the_same_answer(cached: TestClient, clean_db: Cluster) -> None:
    product = _create(cached)
    wait_replicated(clean_db)
    path = f"/api/products/{product['id']}"
    first, second = cached.get(path), cached.get(path)
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit-memory")
    assert second.content == first.content
    assert second.headers["etag"] == first.headers["etag"]
    assert second.headers["x-served-by"] == first.headers["x-served-by"]
    not_modified = cached.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert not_modified.status_code == 304
    assert not_modified.headers["x-cache"] == "hit-memory"
    assert not_modified.headers["etag"] == first.headers["etag"]
    assert cached.head(path).headers["x-cache"] == "hit-memory"
    assert cached.get(path, headers={"Cache-Control": "no-cache"}).headers.get("x-cache") is None
    for view in ("/api/products?category=games", f"{path}/prices", "/api/categories"):
        assert [cached.get(view).headers["x-cache"] for _ in range(2)] == ["miss", "hit-memory"]


def test_a_token_read_is_never_older_than_its_write(cached: TestClient) -> None:
    product = _create(cached)
    path = f"/api/products/{product['id']}"
    cached.get(path)  # cache whatever the replica has now
    for price in range(31, 41):
        updated = cached.patch(path, json={"price": price})
        assert updated.status_code == 200, updated.text
        token = updated.headers["x-consistency-token"]
        read = cached.get(path, headers={"X-Consistency-Token": token})
        assert read.status_code == 200
        assert read.json()["version"] >= updated.json()["version"], read.headers["x-cache"]
        again = cached.get(path, headers={"X-Consistency-Token": token})
        assert again.json()["version"] >= updated.json()["version"]


def test_a_change_by_plain_sql_drops_the_entry_everywhere(
    cached: TestClient, clean_db: Cluster
) -> None:
    product = _create(cached, name="before")
    wait_replicated(clean_db)
    path = f"/api/products/{product['id']}"
    listing = "/api/products?category=games"
    assert cached.get(path).json()["name"] == "before"
    assert cached.get(path).headers["x-cache"] == "hit-memory"
    assert cached.get(listing).json()["items"][0]["name"] == "before"
    clean_db.primary().sql(
        f"UPDATE products SET name = 'after' WHERE id = {product['id']}", dbname="trackr"
    )
    # TTL is 60 s here: only the notification can make the cache let go.
    _eventually(lambda: cached.get(path).json()["name"] == "after")
    _eventually(lambda: cached.get(listing).json()["items"][0]["name"] == "after")


def test_a_lagging_replica_cannot_put_back_what_a_change_dropped(
    cached: TestClient, clean_db: Cluster
) -> None:
    product = _create(cached, name="before")
    wait_replicated(clean_db)
    path = f"/api/products/{product['id']}"
    cached.get(path)
    assert cached.get(path).headers["x-cache"] == "hit-memory"
    replica = clean_db.replicas()[0]
    replica.sql("SELECT pg_wal_replay_pause()")
    try:
        clean_db.primary().sql(
            f"UPDATE products SET name = 'after' WHERE id = {product['id']}", dbname="trackr"
        )
        _eventually(lambda: cached.get(path).headers["x-cache"] == "miss")
        for _ in range(3):  # the replica still answers 'before': read, never kept
            stale = cached.get(path)
            assert (stale.json()["name"], stale.headers["x-cache"]) == ("before", "miss")
    finally:
        replica.sql("SELECT pg_wal_replay_resume()")
    _eventually(lambda: cached.get(path).json()["name"] == "after")
    # Kept once a read's stamp (sampled before it) is past the change's floor.
    _eventually(lambda: cached.get(path).headers["x-cache"] == "hit-memory")
    assert cached.get(path).json()["name"] == "after"


def test_a_replica_is_asked_when_the_monitor_has_not_seen_it_catch_up(
    clean_db: Cluster,
) -> None:
    settings = make_settings(
        clean_db, cache_enabled=True, cache_ttl_seconds=60, replica_check_interval_seconds=60
    )
    with TestClient(create_app(settings)) as client:
        client.headers.update(bearer(settings, "products:write"))
        product = _create(client)
        wait_replicated(clean_db)
        path = f"/api/products/{product['id']}"
        first, second = client.get(path), client.get(path)
        assert first.headers["x-served-by"].startswith("replica:")
        assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit-memory")


def test_without_the_notifications_the_memory_tier_is_bypassed(
    cached: TestClient, clean_db: Cluster
) -> None:
    product = _create(cached)
    wait_replicated(clean_db)
    path = f"/api/products/{product['id']}"
    cached.get(path)
    assert cached.get(path).headers["x-cache"] == "hit-memory"
    clean_db.primary().sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'trackr-cache'",
        dbname="trackr",
    )
    _eventually(lambda: cached.get("/health").json()["cache"]["memory"] == "bypassed")
    assert cached.get(path).headers["x-cache"] == "miss"
    assert cached.get(path).headers["x-cache"] == "miss"
    _eventually(lambda: cached.get("/health").json()["cache"]["memory"] == "in use")
    # Back in use, the tier keeps a replica's answer once the channel has settled the floor
    # its return raised (the primary's position, read just after): a moment under load.
    _eventually(lambda: cached.get(path).headers["x-cache"] == "hit-memory")
    report = cached.get("/health").json()["cache"]
    assert report["redis"] == "not configured"
    assert report["hits_memory"] >= 2
    assert report["misses"] >= 3
    assert 0 < report["hit_ratio"] < 1


def test_errors_and_unknown_products_are_not_cached(cached: TestClient) -> None:
    assert cached.get("/api/products/999999").status_code == 404
    assert cached.get("/api/products/999999").headers.get("x-cache") == "miss"
    bad = cached.get("/api/products/1", headers={"X-Consistency-Token": "nope"})
    assert bad.status_code == 400
