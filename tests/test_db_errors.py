"""Server-side database trouble a client can cause or meet: 503 with Retry-After, never 500."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.localcluster import Cluster
from app.main import create_app
from tests.conftest import make_settings


@pytest.fixture
def impatient_client(clean_db: Cluster) -> Iterator[TestClient]:
    """Reads from the primary only, with a 300 ms statement timeout."""
    settings = make_settings(clean_db, database_replica_urls="", db_statement_timeout_ms=300)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def test_statement_timeout_is_503_with_retry_after(
    impatient_client: TestClient, clean_db: Cluster
) -> None:
    primary = clean_db.primary()
    locker = threading.Thread(
        target=primary.sql,
        args=("BEGIN; LOCK TABLE products IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(2); COMMIT;",),
        kwargs={"dbname": "trackr"},
    )
    locker.start()
    try:
        deadline = time.monotonic() + 5
        while (
            primary.sql(
                "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND granted "
                "AND relation = 'products'::regclass",
                dbname="trackr",
            )
            == "0"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        started = time.monotonic()
        response = impatient_client.get("/api/products")
        assert time.monotonic() - started < 1.5, "the statement timeout did not fire"
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "1"
        assert response.headers["content-type"] == "application/problem+json"
    finally:
        locker.join()


def test_terminated_backends_do_not_surface_as_500(client: TestClient, clean_db: Cluster) -> None:
    assert client.get("/api/products").status_code == 200  # warm the pools
    for node in (clean_db.primary(), *clean_db.replicas()):
        node.sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'trackr-api'"
        )
    # pool_pre_ping notices dead pooled connections and replaces them transparently.
    for _ in range(5):
        assert client.get("/api/products").status_code == 200
