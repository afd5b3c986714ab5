"""Per-request sessions: `ReadSession` (a replica when one qualifies) and `WriteSession` (primary).

The types differ so the intent shows in every signature. Commit happens here and only here,
before the response is built; a successful write then records the primary's WAL insert position
as the response's `X-Consistency-Token`. Writes check the primary's circuit breaker first and
fail fast while it is open. A read whose replica fails at the connection level is retried once,
on another qualified replica or the primary, and that replica leaves rotation at once.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, NewType

import asyncpg
from fastapi import Depends, Header, Request
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.database import Database
from app.db.lsn import format_lsn, parse_lsn
from app.db.replicas import ReplicaHealth
from app.db.routing import RoutingSession
from app.errors import (
    NO_SUITABLE_HOST,
    InvalidConsistencyToken,
    ServiceUnavailable,
    is_connect_failure,
    is_transient_db_error,
)

log = logging.getLogger("trackr.session")

ReadSession = NewType("ReadSession", AsyncSession)
WriteSession = NewType("WriteSession", AsyncSession)

CONSISTENCY_HEADER = "X-Consistency-Token"
SERVED_BY_HEADER = "X-Served-By"
CAUGHT_UP = "SELECT pg_last_wal_replay_lsn() >= CAST(:token AS pg_lsn)"
FAILOVER_ERRORS = (DBAPIError, OSError, PoolTimeoutError, asyncpg.PostgresError, *NO_SUITABLE_HOST)


async def _quietly(release: Callable[[], Awaitable[None]]) -> None:
    """Rollback/close on a connection that died must not replace the real outcome (or, for
    reads, break a response already on its way): the pool has invalidated it anyway."""
    try:
        await release()
    except FAILOVER_ERRORS as exc:
        log.info("discarding a dead connection: %s", exc.__class__.__name__)


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def _parse_token(raw: str | None) -> int | None:
    if raw is None or not raw.strip():
        return None
    try:
        return parse_lsn(raw)
    except ValueError:
        raise InvalidConsistencyToken(
            f"{CONSISTENCY_HEADER} must be a WAL position such as 0/16B3748 "
            "(send back the value a write response gave you)"
        ) from None


def _primary_unavailable(database: Database) -> ServiceUnavailable:
    breaker = database.pool.breaker
    return ServiceUnavailable(
        f"the primary database is unavailable ({breaker.last_error or 'failing'}); "
        "writes are refused until it answers again",
        retry_after_seconds=breaker.retry_after_seconds(),
    )


class FailoverReadSession(AsyncSession):
    """A read session that moves to another node once if its replica dies mid-request."""

    def __init__(
        self,
        *,
        database: Database,
        request: Request,
        min_lsn: int | None,
        replica: ReplicaHealth | None,
        **kwargs: Any,
    ) -> None:
        self._database = database
        self._request = request
        self._min_lsn = min_lsn
        self._retried_same = False
        self._moved = False
        self._replica_name: str | None = None
        engines = database.engines
        super().__init__(
            sync_session_class=RoutingSession,
            primary=engines.primary,
            reader=engines.reader(replica.name if replica else None),
            **kwargs,
        )
        self._replica_name = replica.name if replica else None

    async def begin_read(self) -> None:
        """Settle where this read is served before the endpoint runs.

        A token no replica is known to have replayed is checked live on the freshest replica
        (the monitor's view is up to one interval old), so a read-your-writes read stays on a
        replica whenever one has caught up, even while the primary is down.
        """
        if self._replica_name is None and self._min_lsn is not None:
            pool = self._database.pool
            candidate = pool.freshest()
            if candidate is not None:  # else `choose` already counted why the primary serves
                if await self._has_replayed(candidate, self._min_lsn):
                    self._replica_name = candidate.name
                else:
                    pool.token_fallback()
        self._serve_from(self._database.pool.replicas.get(self._replica_name or ""))

    async def _has_replayed(self, candidate: ReplicaHealth, min_lsn: int) -> bool:
        routing = self._routing()
        routing.retarget(self._database.engines.replicas[candidate.name])
        try:
            token = {"token": format_lsn(min_lsn)}
            reached = bool(await AsyncSession.scalar(self, text(CAUGHT_UP), token))
        except FAILOVER_ERRORS as exc:
            if is_transient_db_error(exc):
                self._database.pool.mark_down(candidate.name, exc.__class__.__name__)
            reached = False
        self._database.pool.record_live_token_check(candidate, min_lsn, reached)
        if not reached:
            await _quietly(self.rollback)
            routing.retarget(self._database.engines.primary_reads)
        return reached

    def _routing(self) -> RoutingSession:
        routing = self.sync_session
        assert isinstance(routing, RoutingSession)
        return routing

    def _serve_from(self, replica: ReplicaHealth | None) -> None:
        if replica is None and not self._database.pool.breaker.allow():
            raise _primary_unavailable(self._database)
        self._replica_name = replica.name if replica else None
        self._request.state.served_by = f"replica:{replica.name}" if replica else "primary"

    async def _fail_over(self, exc: BaseException) -> bool:
        """After a connection-level failure: say whether (and where) to retry the read.

        A dropped connection (killed, recycled server-side) is retried once on the same node:
        the pool has discarded it, so the retry gets a fresh one. A node that cannot be reached
        (or a second failure) leaves rotation at once and the read moves, once, to another
        qualified replica or the primary.
        """
        if not is_transient_db_error(exc):
            return False
        pool = self._database.pool
        await _quietly(self.rollback)
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
        replica = pool.choose(self._min_lsn, exclude=frozenset({failed}))
        self._routing().retarget(self._database.engines.reader(replica.name if replica else None))
        self._serve_from(replica)
        return True

    async def _failing_over(self, run: Callable[[], Awaitable[Any]]) -> Any:
        while True:
            try:
                return await run()
            except FAILOVER_ERRORS as exc:
                if not await self._fail_over(exc):
                    raise

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        return await self._failing_over(lambda: AsyncSession.execute(self, *args, **kwargs))

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        return await self._failing_over(lambda: AsyncSession.scalar(self, *args, **kwargs))


async def read_session(
    request: Request,
    database: Annotated[Database, Depends(get_database)],
    consistency_token: Annotated[
        str | None,
        Header(alias=CONSISTENCY_HEADER, description="Read at least this fresh (from a write)"),
    ] = None,
) -> AsyncIterator[ReadSession]:
    min_lsn = _parse_token(consistency_token)
    session = FailoverReadSession(
        database=database,
        request=request,
        min_lsn=min_lsn,
        replica=database.pool.choose(min_lsn, defer_token_fallback=True),
        expire_on_commit=False,
    )
    try:
        await session.begin_read()
        yield ReadSession(session)
    finally:
        await _quietly(session.close)


async def write_session(
    request: Request, database: Annotated[Database, Depends(get_database)]
) -> AsyncIterator[WriteSession]:
    breaker = database.pool.breaker
    if not breaker.allow():
        raise _primary_unavailable(database)
    session = AsyncSession(
        sync_session_class=RoutingSession,
        primary=database.engines.primary,
        expire_on_commit=False,
    )
    request.state.served_by = "primary"
    try:
        yield WriteSession(session)
        if session.in_transaction():
            await session.commit()
            lsn = await session.scalar(text("SELECT pg_current_wal_insert_lsn()::text"))
            request.state.consistency_token = lsn
        breaker.record_success()
    except BaseException as exc:
        if is_connect_failure(exc):
            breaker.record_failure(exc.__class__.__name__)
        await _quietly(session.rollback)
        raise
    finally:
        await _quietly(session.close)


ReadSessionDep = Annotated[ReadSession, Depends(read_session)]
WriteSessionDep = Annotated[WriteSession, Depends(write_session, scope="function")]
