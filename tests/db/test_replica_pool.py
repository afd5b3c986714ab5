"""The replica monitor against real nodes: lag limits, hysteresis, and restarts that are not lag."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from app.config import Settings
from app.db.replicas import ReplicaPool
from app.localcluster import Cluster
from tests.conftest import make_settings
from tests.support import wait_replicated


def pool_for(settings: Settings) -> ReplicaPool:
    return ReplicaPool.from_settings(settings)


async def checks_until(
    pool: ReplicaPool, condition: Callable[[], bool], within_seconds: float = 15
) -> None:
    deadline = time.monotonic() + within_seconds
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.1)
        await pool.check_once()


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


def test_paused_replay_leaves_rotation_past_the_seconds_limit(migrated: Cluster) -> None:
    settings = make_settings(migrated, replica_max_lag_seconds=1.0, replica_rise=2)
    replica = migrated.replicas()[0]

    async def scenario() -> None:
        pool = pool_for(settings)
        await pool.check_once()
        state = pool.replicas["replica1"]
        assert state.in_rotation
        replica.sql("SELECT pg_wal_replay_pause()")
        try:
            migrated.primary().sql("CREATE TABLE IF NOT EXISTS lag_probe (x int)", dbname="trackr")
            migrated.primary().sql("INSERT INTO lag_probe VALUES (1)", dbname="trackr")
            await checks_until(pool, lambda: not state.in_rotation)
            assert state.lag_bytes is not None
            assert state.lag_bytes > 0
            assert state.lag_seconds is not None
            assert state.lag_seconds > 1.0
            assert pool.choose() is None  # reads fall back to the primary
        finally:
            replica.sql("SELECT pg_wal_replay_resume()")
        await pool.check_once()
        assert not state.in_rotation, "one good check must not be enough to return"
        await checks_until(pool, lambda: state.in_rotation)
        assert state.good_streak >= settings.replica_rise
        await pool.stop()

    run(scenario)
    migrated.primary().sql("DROP TABLE lag_probe", dbname="trackr")
    wait_replicated(migrated)


def test_bytes_limit(migrated: Cluster) -> None:
    settings = make_settings(migrated, replica_max_lag_bytes=1024)
    replica = migrated.replicas()[0]

    async def scenario() -> None:
        pool = pool_for(settings)
        await pool.check_once()
        replica.sql("SELECT pg_wal_replay_pause()")
        try:
            migrated.primary().sql(
                "CREATE TABLE bulk AS SELECT g, repeat('x', 100) AS pad "
                "FROM generate_series(1, 2000) g",
                dbname="trackr",
            )
            state = pool.replicas["replica1"]
            await checks_until(pool, lambda: not state.in_rotation)
            assert state.out_reason is not None
            assert "B over the limit" in state.out_reason
        finally:
            replica.sql("SELECT pg_wal_replay_resume()")
            await pool.stop()

    run(scenario)
    migrated.primary().sql("DROP TABLE bulk", dbname="trackr")
    wait_replicated(migrated)


def test_primary_crash_restart_is_not_replica_lag(migrated: Cluster) -> None:
    """Regression: a checkpoint after crash recovery made an idle replica look minutes behind."""
    settings = make_settings(migrated, replica_max_lag_seconds=1.0)
    primary = migrated.primary()

    async def scenario() -> None:
        pool = pool_for(settings)
        await pool.check_once()
        state = pool.replicas["replica1"]
        await asyncio.sleep(1.5)  # the last replayed transaction is now older than the limit
        primary.stop("immediate")
        await pool.check_once()
        assert not pool.primary.reachable
        assert state.in_rotation, "reads keep going to the replica while the primary is down"
        primary.start()
        for _ in range(10):
            await pool.check_once()
            assert state.in_rotation, state.out_reason
            assert state.lag_seconds is not None
            assert state.lag_seconds < 5
            await asyncio.sleep(0.05)
        await pool.stop()

    run(scenario)
    wait_replicated(migrated, timeout=30)


def test_with_the_primary_gone_time_is_not_lag(migrated: Cluster) -> None:
    """Regression (Patroni drill): the leader died, and 10 s later its replica left rotation
    for "lag", measured as the age of its last replayed transaction, though no newer data
    existed anywhere. A record received but never replayed (what the primary was sending as
    it died, here WAL held back by a paused replay) kept the byte lag above zero."""
    settings = make_settings(migrated, replica_max_lag_seconds=1.0)
    primary, replica = migrated.primary(), migrated.replicas()[0]

    async def scenario() -> None:
        pool = pool_for(settings)
        await pool.check_once()
        state = pool.replicas["replica1"]
        replica.sql("SELECT pg_wal_replay_pause()")
        primary.sql("CREATE TABLE held_back AS SELECT 1 AS x", dbname="trackr")
        await asyncio.sleep(0.3)  # streamed to the replica, not replayed
        primary.stop("immediate")
        await asyncio.sleep(1.5)  # longer than the lag limit
        await pool.check_once()
        assert state.lag_bytes is not None
        assert state.lag_bytes > 0
        assert state.lag_seconds is None
        assert state.in_rotation, state.out_reason
        await pool.stop()

    try:
        run(scenario)
    finally:
        replica.sql("SELECT pg_wal_replay_resume()")
        primary.start()
        migrated.primary().sql("DROP TABLE IF EXISTS held_back", dbname="trackr")
        wait_replicated(migrated, timeout=30)


def test_an_unreachable_replica_is_out_after_one_check(migrated: Cluster) -> None:
    settings = make_settings(
        migrated, database_replica_urls="ghost=postgresql://trackr:x@127.0.0.1:1/trackr"
    )

    async def scenario() -> None:
        pool = pool_for(settings)
        started = time.monotonic()
        await pool.check_once()
        assert time.monotonic() - started < settings.replica_check_timeout_seconds + 1
        ghost = pool.replicas["ghost"]
        assert not ghost.reachable
        assert not ghost.in_rotation
        assert ghost.out_reason is not None
        assert "unreachable" in ghost.out_reason
        await pool.stop()

    run(scenario)


def test_a_terminated_monitor_session_is_not_a_down_node(migrated: Cluster) -> None:
    """The monitor's own session ended (pg_terminate_backend, a pooler's idle timeout): one
    fresh connection shows the node is fine, so it stays in rotation and nothing fails over."""
    settings = make_settings(migrated)
    kill_monitor = (
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name = 'trackr-monitor'"
    )

    async def scenario() -> None:
        pool = pool_for(settings)
        await pool.check_once()
        state = pool.replicas["replica1"]
        assert state.in_rotation
        for node in (migrated.primary(), *migrated.replicas()):
            assert node.sql(kill_monitor) == "1"
        await asyncio.sleep(0.2)  # the FATAL message reaches the monitor's connections
        await pool.check_once()
        assert state.in_rotation, state.out_reason
        assert pool.primary_up, pool.primary.last_error
        assert pool.breaker.opened_total == 0
        await pool.stop()

    run(scenario)
