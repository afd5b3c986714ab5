"""Helpers shared by the tests: tokens, replication waits, a running app."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient

from app.auth import create_token
from app.config import Settings
from app.localcluster import Cluster
from app.main import create_app

TEST_SECRET = "test-secret-" + "x" * 40
# A read that asks the routing, not the read cache (whose hits name the node that made the
# entry, kept for as long as nothing changes it): for tests of which node serves reads.
PAST_THE_CACHE = {"Cache-Control": "no-cache"}


def token(settings: Settings, *scopes: str, ttl: int = 600) -> str:
    return create_token(settings, list(scopes), ttl, subject="tests")


def bearer(settings: Settings, *scopes: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(settings, *scopes)}"}


def wait_replicated(cluster: Cluster, timeout: float = 10) -> None:
    """Block until every running replica has replayed the primary's current WAL position."""
    primary = cluster.primary()
    target = primary.sql("SELECT pg_current_wal_lsn()")
    deadline = time.monotonic() + timeout
    for replica in cluster.replicas():
        query = f"SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '{target}') >= 0"
        while replica.sql(query) != "t":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{replica.name} did not catch up in {timeout}s")
            time.sleep(0.02)


@contextmanager
def with_and_without(
    settings: Settings, middleware: object
) -> Iterator[tuple[TestClient, TestClient]]:
    """The app as it runs, and the same app without one middleware (a fast path), to send
    every request both ways."""
    plain = create_app(settings)
    plain.user_middleware = [m for m in plain.user_middleware if m.cls is not middleware]
    with (
        TestClient(create_app(settings), raise_server_exceptions=False) as full,
        TestClient(plain, raise_server_exceptions=False) as without,
    ):
        yield full, without
