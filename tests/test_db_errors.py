"""Server-side database trouble a client can cause or meet: 503 with Retry-After, never 500."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.localcluster import Cluster
from app.localcluster.node import Node
from app.main import create_app
from tests.conftest import make_settings
from tests.support import bearer, wait_replicated
from tests.test_routing import MAC


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
    # Reads retry on a fresh connection; a write pings its pooled connection first and
    # takes a new one once when it is dead.
    for _ in range(5):
        assert client.get("/api/products").status_code == 200
    for node in (clean_db.primary(), *clean_db.replicas()):
        node.sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'trackr-api'"
        )
    auth = bearer(client.app.state.settings, "products:write")  # type: ignore[attr-defined]
    for _ in range(3):
        written = client.post("/api/products", json=MAC, headers=auth)
        assert written.status_code == 201, written.text


def test_a_replica_shutting_down_refuses_new_sessions_and_reads_move_on(
    clean_db: Cluster,
) -> None:
    """A smart shutdown keeps old sessions and refuses new ones with 57P03 (Patroni's
    switchover does this to the old leader). A read that needs a new connection there must
    move to another node, not answer 500."""
    replica = clean_db.replicas()[0]
    # A fresh app: its replica pool holds no connection yet, only the monitor's session.
    app = create_app(make_settings(clean_db))
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            health = client.get("/health").json()
            assert health["database"]["replicas"][0]["status"] == "up", health
            replica.run("pg_ctl", "stop", "-m", "smart", "-W", "-D", str(replica.datadir))
            _wait_refusing_sessions(replica)
            response = client.get("/api/products")
            assert response.status_code == 200, response.text
            assert response.headers["X-Served-By"] == "primary"
    finally:
        # The app's exit closed its monitor session, which may have let the smart shutdown
        # finish already; otherwise a fast stop ends it, open sessions or not.
        if replica.is_running():
            replica.stop("fast")
        replica.start()
        wait_replicated(clean_db, timeout=30)


def _wait_refusing_sessions(node: Node, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while True:
        probe = node.run(
            "pg_isready", "-h", str(node.socket_dir), "-p", str(node.port), check=False
        )
        if probe.returncode == 1:  # "rejecting connections"
            return
        assert time.monotonic() < deadline, "the node never began refusing new sessions"
        time.sleep(0.05)
