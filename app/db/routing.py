"""The routing session for reads: one request's reads, on one node, with failover.

A `ReadSession` is pinned to the replica the pool chose for it, or to the primary when no
replica qualifies. Each statement runs on the asyncpg connection under that node's SQLAlchemy
pool, checked out for that statement alone (reads run in autocommit, so nothing is held
between statements and the session needs no cleanup). The pool (sizing, recycling,
invalidation) stays SQLAlchemy's; a hot read skips the ORM session, its greenlet hops and
result wrappers, which cost more than the query itself (docs/performance-notes.md). Writes keep
SQLAlchemy sessions on the primary.

Failover: a connection dropped mid-read is retried once on the same node (the pool has a
fresh one); a node that cannot be reached or does not answer within the read timeout leaves
rotation at once and the read moves, once, to another qualified replica or the primary.
While the primary is failing, a read that only it could serve waits (up to
FAILOVER_READ_WAIT_SECONDS) for a replica to replay its token or for the primary's breaker
to close, so a failover that completes within that time costs no read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asyncpg import PostgresError, Record
from sqlalchemy.pool import Pool, PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from app.db.breaker import BreakerState
from app.db.database import Database
from app.db.failures import DRIVER_ERRORS, describe, is_connect_failure, is_transient
from app.db.lsn import format_lsn, parse_lsn
from app.db.replicas import ReplicaHealth
from app.errors import InvalidConsistencyToken, PrimaryUnavailable

log = logging.getLogger("trackr.routing")

# asyncpg sends a pg_lsn parameter as an integer (its codec), never as "0/16B3748" text.
CAUGHT_UP = "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn"
NEWEST_WAL = "SELECT pg_current_wal_insert_lsn()::text"
# With the primary unreachable no live look is possible: a token this far past the newest
# position seen (one monitor interval ago) is refused anyway; a real one is at most the WAL
# of that interval's writes beyond it.
FUTURE_TOKEN_MARGIN_BYTES = 1 << 30
TOKEN_POLL_SECONDS = 0.02
BREAKER_POLL_SECONDS = 0.025


async def quietly(release: Callable[[], Awaitable[None]]) -> None:
    """Releasing a connection that died must not replace the real outcome (or break a
    response already on its way): the pool has given up on it anyway."""
    try:
        await release()
    except DRIVER_ERRORS as exc:
        log.info("discarding a dead connection: %s", exc.__class__.__name__)


def primary_unavailable(database: Database) -> PrimaryUnavailable:
    breaker = database.pool.breaker
    return PrimaryUnavailable(
        f"the primary database is {breaker.last_error or 'failing'}; "
        "writes are refused until it answers again",
        retry_after_seconds=breaker.retry_after_seconds(),
    )


async def check_in(
    pool: Pool, connection: PoolProxiedConnection, failure: BaseException | None = None
) -> None:
    """Return a connection to its pool, or discard it after a failure mid-statement.

    A dropped connection means the server went away or restarted, so every connection
    opened before it is suspect: like SQLAlchemy's own disconnect handling, the pool then
    recycles all of them at their next checkout (`Pool._invalidate`), so a retry on the same
    node gets a fresh one. Other failures (a cancelled request) discard just this one.
    """

    def check_in() -> None:
        if failure is not None:
            driver = connection.driver_connection
            if driver is not None:  # no polite goodbye on a connection in an unknown state
                driver.terminate()
            if is_transient(failure):
                pool._invalidate(connection, failure)
            else:
                connection.invalidate(failure)
        connection.close()

    await quietly(lambda: greenlet_spawn(check_in))


class ReadSession:
    """Reads for one request: `fetchrow`, `fetch` and `fetchval` with asyncpg's `$n` SQL."""

    def __init__(
        self,
        database: Database,
        *,
        min_lsn: int | None,
        replica: ReplicaHealth | None,
        wanted_stamp: int | None = None,
    ) -> None:
        self._database = database
        self._min_lsn = min_lsn
        self._wanted_stamp = wanted_stamp
        self._vouched: tuple[str, int] | None = None  # (replica, position) checked live
        self._replica_name = replica.name if replica else None
        self._retried_same = False
        self._moved = False
        # A WAL position every row these reads returned is at least as new as (None before the
        # first read): what a read cache may promise a consistency token (app/cache).
        self.stamp: int | None = None
        self.replica_read = False  # whether a replica answered any of them

    async def begin(self) -> None:
        """Settle where this session's reads are served, before the endpoint runs.

        A token no replica is known to have replayed is checked live on the freshest replica
        (the monitor's view is up to one interval old), so a read-your-writes read stays on a
        replica whenever one has caught up, even while the primary is down.
        """
        pool = self._database.pool
        if self._replica_name is None and self._min_lsn is not None:
            await self._refuse_future_token(self._min_lsn)
            # With no candidate, `choose` has already counted why the primary serves.
            candidate = pool.freshest()
            # With the primary known to be failing, a short wait for the replica to replay
            # the token beats a 503.
            patience = 0.0 if pool.breaker.state is BreakerState.CLOSED else self._patience
            if candidate is not None and not await self._has_replayed(
                candidate, self._min_lsn, patience
            ):
                pool.token_fallback()
        await self._serve_from(pool.replicas.get(self._replica_name or ""))
        if self._wanted_stamp is not None:
            await self._vouch_for(self._wanted_stamp)

    async def _vouch_for(self, wanted: int) -> None:
        """Ask the replica whether it has replayed `wanted` (the read cache keeps its answer
        only then) when the monitor's last look cannot tell: one round trip, and the read
        stays on the replica whatever the answer.

        The question is asked as a read is (`_run`): a replica that fails it is marked down
        and the request moves on at once, as its read would have, instead of waiting for
        the same dead node twice. It returns no rows, so it leaves no stamp.
        """
        replica = self._database.pool.replicas.get(self._replica_name or "")
        if replica is None or (replica.replay_lsn or 0) >= wanted:
            return
        reached = bool(await self._run(CAUGHT_UP, (wanted,), "fetchval"))
        if reached and self._replica_name == replica.name:
            self._vouched = (replica.name, wanted)
        self.stamp, self.replica_read = None, False

    async def _refuse_future_token(self, min_lsn: int) -> None:
        """Refuse a token past every WAL position the cluster has written: no write issued
        it, and honouring it would send reads to the primary (or make them wait while it is
        down). Beyond the newest position the monitor saw, the primary is asked once."""
        pool = self._database.pool
        if min_lsn <= pool.newest_wal_position():
            return
        newest = await self._primary_wal_position()
        limit = newest if newest is not None else pool.newest_wal_position()
        margin = 0 if newest is not None else FUTURE_TOKEN_MARGIN_BYTES
        if min_lsn > limit + margin:
            raise InvalidConsistencyToken(
                f"the token {format_lsn(min_lsn)} is ahead of every WAL position the database "
                f"has written ({format_lsn(limit)}): no write issued it; send back the value a "
                "write response gave you"
            )

    async def _primary_wal_position(self) -> int | None:
        """The primary's WAL insert position now; None while it cannot be asked."""
        pool = self._database.pool
        if pool.breaker.state is not BreakerState.CLOSED:
            return None
        replica, self._replica_name = self._replica_name, None
        try:
            # A read's deadline, not a write's: a hung primary must not hold this read long.
            async with asyncio.timeout(pool.settings.replica_read_timeout_seconds):
                text = await self._attempt(NEWEST_WAL, (), "fetchval")
        except DRIVER_ERRORS as exc:
            if not is_transient(exc):
                raise
            return None
        finally:
            self._replica_name = replica
        newest = parse_lsn(text)
        pool.saw_wal_position(newest)
        return newest

    @property
    def _patience(self) -> float:
        """How long a read may wait for a node while the primary is failing."""
        return self._database.pool.settings.failover_read_wait_seconds

    async def _has_replayed(
        self, candidate: ReplicaHealth, min_lsn: int, patience: float = 0.0
    ) -> bool:
        """Whether `candidate` has replayed `min_lsn`, waiting up to `patience` seconds.

        A synchronous standby has the WAL of every acknowledged commit and replays it within
        milliseconds: worth waiting for while the primary cannot serve (a failover).
        """
        pool = self._database.pool
        self._replica_name = candidate.name
        deadline = time.monotonic() + patience
        while True:
            try:
                reached = bool(await self._attempt(CAUGHT_UP, (min_lsn,), "fetchval"))
            except DRIVER_ERRORS as exc:
                if is_transient(exc):
                    pool.mark_down(candidate.name, describe(exc))
                reached = False
                break
            if reached or time.monotonic() >= deadline:
                break
            await asyncio.sleep(TOKEN_POLL_SECONDS)
        pool.record_live_token_check(candidate, min_lsn, reached)
        if not reached:
            self._replica_name = None
        return reached

    async def fetchrow(self, sql: str, *args: Any) -> Record | None:
        row: Record | None = await self._run(sql, args, "fetchrow")
        return row

    async def fetch(self, sql: str, *args: Any) -> list[Record]:
        rows: list[Record] = await self._run(sql, args, "fetch")
        return rows

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._run(sql, args, "fetchval")

    async def _run(self, sql: str, args: tuple[Any, ...], method: str) -> Any:
        pool = self._database.pool
        breaker = pool.breaker
        while True:
            generation = pool.writer_generation
            stamp = self._stamp_now()
            try:
                result = await self._attempt(sql, args, method)
            except DRIVER_ERRORS as exc:
                on_writer = self._replica_name is None and generation == pool.writer_generation
                if on_writer and is_connect_failure(exc):
                    breaker.record_failure(describe(exc))
                if not is_transient(exc) or not await self._fail_over(exc):
                    raise
            else:
                if self._replica_name is None and breaker.state is BreakerState.HALF_OPEN:
                    breaker.record_success()  # this read was the primary's trial, and it passed
                self.stamp = stamp if self.stamp is None else min(self.stamp, stamp)
                self.replica_read |= self._replica_name is not None
                return result

    async def _attempt(self, sql: str, args: tuple[Any, ...], method: str) -> Any:
        """One statement on a connection checked out for it alone (reads need no transaction)."""
        engine = self._database.engines.reader(self._replica_name).sync_engine
        connection = await greenlet_spawn(engine.raw_connection)
        try:
            result = await getattr(connection.driver_connection, method)(sql, *args)
        except PostgresError as exc:  # the server answered: usable unless it is leaving
            await check_in(engine.pool, connection, exc if is_transient(exc) else None)
            raise
        except BaseException as exc:  # dropped, timed out or cancelled mid-statement
            await check_in(engine.pool, connection, exc)
            raise
        await check_in(engine.pool, connection)
        return result

    def _stamp_now(self) -> int:
        """Before a query: a WAL position whose commits the serving node already shows.

        A replica shows every commit up to the replay position the monitor last saw (replay
        is what makes a commit visible on a standby), and up to the request's token, which
        it was chosen for having replayed. On the primary a commit becomes visible a moment
        after its WAL is written (after the flush, and a synchronous standby's answer), so
        no WAL position read there is safe: only the request's token (its write had been
        answered, hence visible) counts.
        """
        token = self._min_lsn or 0
        if self._replica_name is None:
            return token
        replica = self._database.pool.replicas.get(self._replica_name)
        replayed = replica.replay_lsn if replica is not None else None
        vouched = self._vouched or ("", 0)
        replayed_live = vouched[1] if vouched[0] == self._replica_name else 0
        return max(token, replayed or 0, replayed_live)

    async def _serve_from(self, replica: ReplicaHealth | None) -> None:
        if replica is None and not await self._primary_allows():
            raise primary_unavailable(self._database)
        self._replica_name = replica.name if replica else None

    @property
    def retried(self) -> bool:
        """A read of this session was retried after a connection failure."""
        return self._retried_same or self._moved

    @property
    def moved(self) -> bool:
        """A read of this session moved to another node after a failure."""
        return self._moved

    @property
    def served_by(self) -> str:
        """The node this session's reads go to now: `primary` or `replica:<name>`."""
        return f"replica:{self._replica_name}" if self._replica_name else "primary"

    async def _primary_allows(self) -> bool:
        """May this read go to the primary? While its breaker is open, wait a little.

        No replica can serve this read, so it is the primary or a 503. A failover (a replica
        promoted, HAProxy's check passing on the new leader) closes the breaker within about
        a second, and a read that waits for it beats one that fails.
        """
        breaker = self._database.pool.breaker
        deadline = time.monotonic() + self._patience
        while not breaker.allow():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(BREAKER_POLL_SECONDS)
        return True

    async def _fail_over(self, exc: BaseException) -> bool:
        """After a connection-level failure: say whether (and where) to retry the read."""
        pool = self._database.pool
        if not self._retried_same and not is_connect_failure(exc):
            self._retried_same = True
            pool.record_retry()
            return True
        if self._moved:
            return False
        self._moved = True
        pool.record_retry()
        failed = self._replica_name
        if failed is None:
            # The primary: a token read waits for a replica to replay it; any other read
            # gets one fresh connection, if the primary's breaker allows.
            candidate = pool.freshest() if self._min_lsn is not None else None
            if candidate is not None and await self._has_replayed(
                candidate, self._min_lsn or 0, self._patience
            ):
                await self._serve_from(candidate)
                return True
            await self._serve_from(None)
            return True
        log.warning("a read on %s failed: %s: %s", failed, exc.__class__.__name__, exc)
        pool.mark_down(failed, describe(exc))
        await self._serve_from(pool.choose(self._min_lsn, exclude=frozenset({failed})))
        return True
