"""The per-process monitor loop: every node checked each round, the primary probed often
while it is failing (Patroni's view with it), Patroni's membership and the operators'
overrides followed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import asyncpg

from app.db.breaker import BreakerState
from app.db.failures import DRIVER_ERRORS
from app.db.lsn import parse_lsn
from app.db.replicas.checks import PRIMARY_CHECK, REPLICA_CHECK, LagLimits, judge_replica, query
from app.db.replicas.nodes import ReplicaHealth
from app.db.walclock import WalClock

if TYPE_CHECKING:
    from app.db.replicas.pool import ReplicaPool

log = logging.getLogger("trackr.replicas")

RECOVERY_PROBE_SECONDS = 0.1
# Reads the operators' overrides (balancing mode, drained replicas) on the primary's monitor
# connection, within the timeout.
OverridesSource = Callable[[asyncpg.Connection, float], Awaitable[tuple[str | None, list[str]]]]


class Monitor:
    def __init__(self, pool: ReplicaPool, overrides: OverridesSource | None) -> None:
        self.pool = pool
        self.overrides = overrides
        self.wal_clock = WalClock()
        settings = pool.settings
        self.timeout = settings.replica_check_timeout_seconds
        self.tcp_user_timeout = settings.db_tcp_user_timeout_seconds
        self.limits = LagLimits(
            settings.replica_max_lag_bytes, settings.replica_max_lag_seconds, settings.replica_rise
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._primary_check = asyncio.Lock()  # the round and the probe share its connection

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name="replica-monitor"),
            asyncio.create_task(self._probe_while_failing(), name="primary-recovery-probe"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.sleep(self.pool.settings.replica_check_interval_seconds)
                await self.check_once()
            except Exception:  # the monitor must never die
                log.exception("replica check round failed")

    async def _probe_while_failing(self) -> None:
        """While the primary is failing, look for a writer every RECOVERY_PROBE_SECONDS,
        beside the rounds (a round waits out every silent node's timeout): writes resume as
        soon as Patroni names a new leader or the URL reaches one."""
        while True:
            try:
                await asyncio.sleep(RECOVERY_PROBE_SECONDS)
                if self.pool.breaker.state is not BreakerState.CLOSED:
                    await self.pool.follow_patroni()  # the writer may have a new name already
                    await self.check_primary()
            except Exception:
                log.exception("primary recovery probe failed")

    async def check_once(self) -> None:
        pool = self.pool
        # Side by side: each may wait out a silent node's timeout, and a primary gone silent
        # should open the breaker one timeout after the round starts, not two.
        await asyncio.gather(pool.follow_patroni(census=True), self.check_primary())
        await asyncio.gather(*(self._check_replica(r) for r in pool.replicas.values()))
        promoted = [r for r in pool.replicas.values() if r.reachable and r.in_recovery is False]
        if promoted and pool.breaker.state is not BreakerState.CLOSED:
            # A replica was just promoted: the writer may be back, don't wait a round.
            await pool.follow_promoted(promoted[0])
            await self.check_primary()
        pool.observer.round_checked(pool)

    async def check_primary(self) -> None:
        pool = self.pool
        async with self._primary_check:
            generation = pool.writer_generation
            row = await self._writer_row()
            if row is None:
                if generation == pool.writer_generation:  # not the leader just left behind
                    pool.breaker.record_failure(pool.primary.last_error or "unreachable")
                return
            pool.primary.in_recovery = False
            pool.primary.wal_lsn = parse_lsn(row[1])
            self.wal_clock.record(time.monotonic(), pool.primary.wal_lsn)
            pool.breaker.record_success()
            await self._load_overrides()

    async def _writer_row(self) -> asyncpg.Record | None:
        """The primary check's row from a node that accepts writes, or None.

        A connection opened before a failover may lead to a node that died or was demoted;
        one fresh connection right away lets a multi-host URL find the new writer.
        """
        primary = self.pool.primary
        for _ in range(2):
            had_connection = primary.conn is not None
            row = await query(primary, PRIMARY_CHECK, self.timeout, self.tcp_user_timeout)
            if row is not None and not row[0]:
                return row
            if row is not None:
                primary.in_recovery = True
                primary.wal_lsn = None
                primary.last_error = "the node behind DATABASE_URL is in recovery (not a writer)"
                await primary.close()  # reconnect: target_session_attrs may find the writer
            if not had_connection:
                break
        return None

    async def _load_overrides(self) -> None:
        """Operator overrides live on the primary so every process and API node follows them."""
        conn = self.pool.primary.conn
        if conn is None or self.overrides is None:
            return
        changes_before = self.pool.overrides_changed
        try:
            read_balancing, drained = await self.overrides(conn, self.timeout)
        except DRIVER_ERRORS:  # not migrated yet, or a blip: keep what we had
            return
        self.pool.apply_overrides(read_balancing, drained, read_at=changes_before)

    async def _check_replica(self, replica: ReplicaHealth) -> None:
        if replica.patroni_says is not None:
            replica.exclude(replica.patroni_says)
            await replica.close()
            return
        row = await query(replica, REPLICA_CHECK, self.timeout, self.tcp_user_timeout)
        if row is None:
            replica.exclude(replica.last_error or "unreachable")
            return
        primary_lsn = self.pool.primary.wal_lsn if self.pool.primary_up else None
        judge_replica(replica, row, self.limits, primary_lsn, self.wal_clock)
