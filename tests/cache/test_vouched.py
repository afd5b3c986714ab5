"""A product's entry older than CACHE_TTL_SECONDS is still served while the invalidation
channel vouches for it (every change before its last answer was heard), and only then: not when
the channel goes silent, not when it came from Redis, and never for views (lists, histories,
categories: the TTL bounds their memory). On the real primary + replica, with the listener's
backend frozen for real."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.localcluster import Cluster
from app.main import create_app
from tests.cache.test_cache import _create, _eventually
from tests.conftest import make_settings
from tests.redis_server import RedisServer
from tests.support import bearer, wait_replicated

TTL = 0.3
OLDER_THAN_TTL = 3 * TTL


@pytest.fixture
def short_lived(clean_db: Cluster) -> Iterator[TestClient]:
    settings = make_settings(clean_db, cache_enabled=True, cache_ttl_seconds=TTL)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        client.headers.update(bearer(settings, "products:write"))
        yield client


def _listener_backend(cluster: Cluster) -> int:
    out = cluster.primary().sql(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'trackr-cache'",
        dbname="trackr",
    )
    (pid,) = [int(line) for line in out.split()]
    return pid


def test_an_entry_outlives_its_ttl_while_the_channel_vouches_for_it(
    short_lived: TestClient, clean_db: Cluster
) -> None:
    product = _create(short_lived, name="before")
    wait_replicated(clean_db)
    path = f"/api/products/{product['id']}"
    views = ("/api/products?category=games", "/api/categories", f"{path}/prices")
    for read in (path, *views):
        assert short_lived.get(read).headers["x-cache"] == "miss"
    time.sleep(OLDER_THAN_TTL)
    assert short_lived.get(path).headers["x-cache"] == "hit-memory"
    for view in views:  # their age alone decides
        assert short_lived.get(view).headers["x-cache"] == "miss", view
    # And a vouched-for entry still goes with a change.
    clean_db.primary().sql(
        f"UPDATE products SET name = 'after' WHERE id = {product['id']}", dbname="trackr"
    )
    _eventually(lambda: short_lived.get(path).json()["name"] == "after")


def test_a_truncate_drops_every_entry(short_lived: TestClient, clean_db: Cluster) -> None:
    product = _create(short_lived)
    wait_replicated(clean_db)
    path = f"/api/products/{product['id']}"
    short_lived.get(path)
    assert short_lived.get(path).headers["x-cache"] == "hit-memory"
    clean_db.primary().sql("TRUNCATE products CASCADE", dbname="trackr")
    _eventually(lambda: short_lived.get(path).status_code == 404)


def test_a_silent_channel_vouches_for_nothing(short_lived: TestClient, clean_db: Cluster) -> None:
    product = _create(short_lived)
    wait_replicated(clean_db)
    path = f"/api/products/{product['id']}"
    short_lived.get(path)
    time.sleep(OLDER_THAN_TTL)
    assert short_lived.get(path).headers["x-cache"] == "hit-memory"
    backend = _listener_backend(clean_db)
    os.kill(backend, signal.SIGSTOP)  # connected, but answering nothing: changes go unheard
    try:
        time.sleep(OLDER_THAN_TTL)
        # Whether or not the listener has given up on the connection yet, the entry is older
        # than the TTL and nothing has vouched for it since: it is not served.
        assert short_lived.get(path).headers["x-cache"] == "miss"
    finally:
        os.kill(backend, signal.SIGCONT)
    short_lived.get(path)
    _eventually(lambda: short_lived.get(path).headers["x-cache"] == "hit-memory", seconds=15)


def test_an_entry_from_redis_is_not_vouched_for(clean_db: Cluster, redis: RedisServer) -> None:
    settings = make_settings(clean_db, cache_enabled=True, cache_ttl_seconds=TTL,
                             cache_url=redis.url)  # fmt: skip
    with (
        TestClient(create_app(settings)) as reader,
        TestClient(create_app(settings)) as other,
    ):
        reader.headers.update(bearer(settings, "products:write"))
        product = _create(reader)
        wait_replicated(clean_db)
        path = f"/api/products/{product['id']}"
        assert reader.get(path).headers["x-cache"] == "miss"
        _eventually(lambda: other.get(path).headers["x-cache"] == "hit-redis", seconds=2 * TTL)
        time.sleep(OLDER_THAN_TTL)
        # The reader read it itself and heard every change since; the other node took it from
        # Redis, and could have missed a change made before it did.
        assert reader.get(path).headers["x-cache"] == "hit-memory"
        assert other.get(path).headers["x-cache"] == "miss"
