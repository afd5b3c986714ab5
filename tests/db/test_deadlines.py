"""A silent database never holds a request past its deadline: the primary SIGSTOPped for real
(a frozen or partitioned host: connections stay open, nothing answers)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from app.db.patroni import PatroniMember, leader_first_dsn
from app.db.sockets import bound_socket, bounded_connection
from app.db.urls import with_first_host
from app.localcluster import Cluster
from app.main import create_app
from tests.conftest import make_settings
from tests.support import bearer
from tests.test_routing import MAC

WRITE_TIMEOUT = 1.0


def test_the_leader_is_tried_first_and_only_a_writer_is_accepted() -> None:
    leader = PatroniMember("n2", "leader", "running", "10.0.0.2", 5433, 2, 0)
    assert leader_first_dsn("postgresql://u:p@h1:5432,10.0.0.2:5433/db", leader) == (
        "postgresql://u:p@10.0.0.2:5433,h1:5432/db?target_session_attrs=read-write"
    )
    kept = "postgresql://u:p@h1:5432/db?target_session_attrs=primary"
    assert leader_first_dsn(kept, leader) == (
        "postgresql://u:p@10.0.0.2:5433,h1:5432/db?target_session_attrs=primary"
    )
    assert with_first_host("postgresql://h1:5432/db", "::1", 5) == "postgresql://[::1]:5,h1:5432/db"


def test_database_connections_carry_keepalive_and_a_user_timeout() -> None:
    connection_class = bounded_connection(3.0)
    assert connection_class is bounded_connection(3.0)  # one class per setting
    with socket.socket() as sock:
        bound_socket(sock, 3.0)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 3000
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 3


@pytest.fixture
def hung_primary(clean_db: Cluster) -> Iterator[Callable[[], None]]:
    """Hangs the primary when called: every process it has then (backends included)."""
    primary = clean_db.primary()
    yield primary.freeze
    primary.thaw()  # even if the test failed halfway


@pytest.mark.slow
def test_a_write_to_a_hung_primary_ends_at_its_deadline(
    clean_db: Cluster, hung_primary: Callable[[], None]
) -> None:
    settings = make_settings(clean_db, db_write_timeout_seconds=WRITE_TIMEOUT)
    auth = bearer(settings, "products:write")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert client.post("/api/products", json=MAC, headers=auth).status_code == 201
        hung_primary()  # its backends serving the app's pooled connections included
        started = time.monotonic()
        refused = client.post("/api/products", json=MAC, headers=auth)
        waited = time.monotonic() - started
        assert refused.status_code == 503, refused.text
        assert "Retry-After" in refused.headers
        # The deadline, not the kernel's retransmission limit (minutes); generous margin for
        # a shared machine.
        assert waited < WRITE_TIMEOUT + 4, waited
        read = client.get("/api/products")
        assert (read.status_code, read.headers["X-Served-By"]) == (200, "replica:replica1")
