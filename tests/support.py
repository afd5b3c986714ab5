"""Helpers shared by the tests: tokens, replication waits, a running app."""

from __future__ import annotations

import time

from app.auth import create_token
from app.config import Settings
from app.localcluster import Cluster

TEST_SECRET = "test-secret-" + "x" * 40


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
