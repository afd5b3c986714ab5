"""The routing session for reads: one request's reads, on one node, with failover.

A `ReadSession` is pinned to the replica the pool chose for it, or to the primary when no
replica qualifies. It runs SQL on the asyncpg connection under that node's SQLAlchemy pool:
the pool (sizing, recycling, invalidation) is SQLAlchemy's, but a hot read skips the ORM
session, the greenlet hop per statement and the result wrappers, which cost three times the
query itself (docs/performance-notes.md). Writes keep SQLAlchemy sessions on the primary.

Failover: a connection dropped mid-read is retried once on the same node (the pool has a
fresh one); a node that cannot be reached or does not answer within the read timeout leaves
rotation at once and the read moves, once, to another qualified replica or the primary.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from asyncpg import Record
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request

from app.db.database import Database
from app.db.lsn import format_lsn
from app.db.replicas import ReplicaHealth
from app.errors import (
    NO_SUITABLE_HOST,
    ServiceUnavailable,
    is_connect_failure,
    is_transient_db_error,
)

log = logging.getLogger("trackr.routing")

T = TypeVar("T")
CAUGHT_UP = "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn"
FAILOVER_ERRORS = (
    DBAPIError,
    OSError,
    PoolTimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    *NO_SUITABLE_HOST,
)


async def quietly(release: Callable[[], Awaitable[None]]) -> None:
    """Releasing a connection that died must not replace the real outcome (or break a
    response already on its way): the pool has given up on it anyway."""
    try:
        await release()
    except FAILOVER_ERRORS as exc:
        log.info("discarding a dead connection: %s", exc.__class__.__name__)


def primary_unavailable(database: Database) -> ServiceUnavailable:
    breaker = database.pool.breaker
    return ServiceUnavailable(
        f"the primary database is unavailable ({breaker.last_error or 'failing'}); "
        "writes are refused until it answers again",
        retry_after_seconds=breaker.retry_after_seconds(),
    )


class ReadSession:
    """Reads for one request: `fetchrow`, `fetch` and `fetchval` with asyncpg's `$n` SQL."""

    def __init__(
        self,
        database: Database,
        request: Request,
        *,
        min_lsn: int | None,
        replica: ReplicaHealth | None,
    ) -> None:
        self._database = database
        self._request = request
        self._min_lsn = min_lsn
        self._replica_name = replica.name if replica else None
        self._connection: AsyncConnection | None = None
        self._driver: Any = None  # asyncpg.Connection, typed loosely as SQLAlchemy exposes it
        self._busy = False
        self._retried_same = False
        self._moved = False

    @property
    def replica_name(self) -> str | None:
        """The replica serving this session, or None for the primary."""
        return self._replica_name

    async def begin(self) -> None:
        """Settle where this session's reads are served, before the endpoint runs.

        A token no replica is known to have replayed is checked live on the freshest replica
        (the monitor's view is up to one interval old), so a read-your-writes read stays on a
        replica whenever one has caught up, even while the primary is down.
        """
        pool = self._database.pool
        if self._replica_name is None and self._min_lsn is not None:
            # With no candidate, `choose` has already counted why the primary serves.
            candidate = pool.freshest()
            if candidate is not None and not await self._has_replayed(candidate, self._min_lsn):
                pool.token_fallback()
        self._serve_from(pool.replicas.get(self._replica_name or ""))

    async def _has_replayed(self, candidate: ReplicaHealth, min_lsn: int) -> bool:
        pool = self._database.pool
        self._replica_name = candidate.name
        try:
            reached = bool(await self._attempt(CAUGHT_UP, (format_lsn(min_lsn),), "fetchval"))
        except FAILOVER_ERRORS as exc:
            await self._discard()
            if is_transient_db_error(exc):
                pool.mark_down(candidate.name, exc.__class__.__name__)
            reached = False
        pool.record_live_token_check(candidate, min_lsn, reached)
        if not reached:
            await self.close()
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

    async def close(self) -> None:
        """Return the connection to its pool; one abandoned mid-query is closed instead."""
        connection, self._connection, self._driver = self._connection, None, None
        if connection is None:
            return
        if self._busy:  # cancelled mid-query: the protocol state is unknown
            self._busy = False
            await quietly(connection.invalidate)
        await quietly(connection.close)

    async def _run(self, sql: str, args: tuple[Any, ...], method: str) -> Any:
        while True:
            try:
                return await self._attempt(sql, args, method)
            except FAILOVER_ERRORS as exc:
                if not is_transient_db_error(exc):
                    self._busy = False  # a server-side error leaves the connection usable
                    raise
                await self._discard()
                if not self._fail_over(exc):
                    raise

    async def _attempt(self, sql: str, args: tuple[Any, ...], method: str) -> Any:
        if self._driver is None:
            engine = self._database.engines.reader(self._replica_name)
            self._connection = await engine.connect()
            self._driver = (await self._connection.get_raw_connection()).driver_connection
        self._busy = True
        result = await getattr(self._driver, method)(sql, *args)
        self._busy = False
        return result

    async def _discard(self) -> None:
        connection, self._connection, self._driver = self._connection, None, None
        self._busy = False
        if connection is not None:
            await quietly(connection.invalidate)
            await quietly(connection.close)

    def _serve_from(self, replica: ReplicaHealth | None) -> None:
        if replica is None and not self._database.pool.breaker.allow():
            raise primary_unavailable(self._database)
        self._replica_name = replica.name if replica else None
        self._request.state.served_by = f"replica:{replica.name}" if replica else "primary"

    def _fail_over(self, exc: BaseException) -> bool:
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
        if failed is None:  # the primary: one fresh connection, if its breaker allows
            self._serve_from(None)
            return True
        pool.mark_down(failed, exc.__class__.__name__)
        self._serve_from(pool.choose(self._min_lsn, exclude=frozenset({failed})))
        return True
