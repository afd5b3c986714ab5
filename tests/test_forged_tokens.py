"""A consistency token no write issued (past every WAL position the cluster has written) is
refused with 400, even while the primary is down; a real one, a millisecond old and issued by
another API node, is always honoured."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.db.lsn import format_lsn, parse_lsn
from app.localcluster import Cluster
from app.main import create_app
from tests.conftest import make_settings
from tests.support import bearer, wait_replicated
from tests.test_api_errors import assert_problem
from tests.test_routing import MAC

TOKEN = "X-Consistency-Token"


@pytest.fixture
def other_node(clean_db: Cluster) -> Iterator[TestClient]:
    """A second API node whose monitor looks rarely: its last sample of the primary's WAL
    position is always older than a fresh write's token, so every token is checked live."""
    slow_monitor = make_settings(clean_db, replica_check_interval_seconds=60)
    with TestClient(create_app(slow_monitor), raise_server_exceptions=False) as node:
        yield node


def test_a_fresh_token_from_another_node_is_honoured(
    client: TestClient, other_node: TestClient, settings: Settings
) -> None:
    auth = bearer(settings, "products:write")
    for n in range(20):
        created = client.post("/api/products", json={**MAC, "name": f"m{n}"}, headers=auth)
        token = created.headers[TOKEN]
        read = other_node.get(f"/api/products/{created.json()['id']}", headers={TOKEN: token})
        assert read.status_code == 200, read.text
        listed = other_node.get("/api/products?limit=100", headers={TOKEN: token})
        assert created.json()["id"] in [p["id"] for p in listed.json()["items"]]


def test_a_token_from_the_future_is_400(
    client: TestClient, other_node: TestClient, clean_db: Cluster
) -> None:
    newest = parse_lsn(clean_db.primary().sql("SELECT pg_current_wal_insert_lsn()"))
    for forged in ("FFFFFFFF/FFFFFFFF", format_lsn(newest + 16 * 1024 * 1024)):
        for node in (client, other_node):
            for path in ("/api/products/1", "/api/products", "/api/categories"):
                problem = assert_problem(node.get(path, headers={TOKEN: forged}), 400)
                assert problem["type"] == "/problems/invalid-consistency-token"
                assert "no write issued it" in problem["detail"]


def test_while_the_primary_is_down_a_forged_token_is_refused_and_a_real_one_served(
    client: TestClient, clean_db: Cluster, settings: Settings
) -> None:
    created = client.post("/api/products", json=MAC, headers=bearer(settings, "products:write"))
    real = created.headers[TOKEN]
    # Replication is asynchronous: a write the replica never received could not be served.
    wait_replicated(clean_db)
    primary = clean_db.primary()
    primary.stop("immediate")
    try:
        forged = client.get("/api/products", headers={TOKEN: "FFFFFFFF/FFFFFFFF"})
        assert assert_problem(forged, 400)["type"] == "/problems/invalid-consistency-token"
        served = client.get(f"/api/products/{created.json()['id']}", headers={TOKEN: real})
        assert served.status_code == 200
        assert served.headers["X-Served-By"] == "replica:replica1"
    finally:
        primary.start()


@pytest.mark.timeout(40)  # asking the hung primary would take 60 s
def test_a_token_this_node_issued_is_believed_without_asking_a_hung_primary(
    clean_db: Cluster, settings: Settings
) -> None:
    """The node that issued a token knows the position exists: with its monitor's last look
    older than the write, it does not ask the primary to believe it. Asking a hung primary
    would hold the read for the primary's whole timeout (here 60 s, past the test's)."""
    node_settings = make_settings(
        clean_db,
        replica_check_interval_seconds=60,
        replica_read_timeout_seconds=60,
        db_connect_timeout_seconds=60,
        db_write_timeout_seconds=60,  # the primary's statements, reads included
    )
    with TestClient(create_app(node_settings), raise_server_exceptions=False) as node:
        auth = bearer(settings, "products:write")
        created = node.post("/api/products", json=MAC, headers=auth)
        token = created.headers[TOKEN]
        (replica,) = clean_db.replicas()
        primary = clean_db.primary()
        # The token is the insert position, which may include other sessions' WAL not yet
        # flushed (so not yet sent): a commit with a transaction id flushes all of it.
        primary.sql("SELECT txid_current()")
        query = f"SELECT pg_last_wal_replay_lsn() >= '{token}'::pg_lsn"
        deadline = time.monotonic() + 20
        while replica.sql(query) != "t":  # bounded: a fresh write replays in milliseconds
            assert time.monotonic() < deadline, "the replica never replayed the write"
            time.sleep(0.05)
        primary.freeze()
        try:
            read = node.get(f"/api/products/{created.json()['id']}", headers={TOKEN: token})
        finally:
            primary.thaw()
        assert read.status_code == 200, read.text
        assert read.headers["X-Served-By"] == "replica:replica1"
