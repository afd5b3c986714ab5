"""Per-request sessions: `ReadSession` (a replica when one qualifies) and `WriteSession` (primary).

The types differ so the intent shows in every signature. Commit happens here and only here,
before the response is built; a successful write then records the primary's WAL insert position
as the response's `X-Consistency-Token`. Writes check the primary's circuit breaker first and
fail fast while it is open. A read whose replica fails at the connection level is retried once,
on another qualified replica or the primary, and that replica leaves rotation at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, NewType

from fastapi import Depends, Header, Request
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.database import Database
from app.db.lsn import parse_lsn
from app.db.replicas import ReplicaHealth
from app.db.routing import RoutingSession
from app.errors import InvalidConsistencyToken, ServiceUnavailable, is_transient_db_error

ReadSession = NewType("ReadSession", AsyncSession)
WriteSession = NewType("WriteSession", AsyncSession)

CONSISTENCY_HEADER = "X-Consistency-Token"
SERVED_BY_HEADER = "X-Served-By"
FAILOVER_ERRORS = (DBAPIError, OSError, PoolTimeoutError)


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

    def __init__(self, *, database: Database, request: Request, min_lsn: int | None,
                 replica: ReplicaHealth | None, **kwargs: Any) -> None:  # fmt: skip
        self._database = database
        self._request = request
        self._min_lsn = min_lsn
        self._tried: set[str] = set()
        self._replica_name: str | None = None
        engines = database.engines
        super().__init__(
            sync_session_class=RoutingSession, primary=engines.primary,
            replica=engines.replicas[replica.name] if replica else None, **kwargs,
        )  # fmt: skip
        self._serve_from(replica)

    def _serve_from(self, replica: ReplicaHealth | None) -> None:
        if replica is None and not self._database.pool.breaker.allow():
            raise _primary_unavailable(self._database)
        self._replica_name = replica.name if replica else None
        self._request.state.served_by = f"replica:{replica.name}" if replica else "primary"

    async def _fail_over(self, exc: BaseException) -> bool:
        """After a connection-level failure on a replica: move on and say whether to retry."""
        failed = self._replica_name
        if failed is None or not is_transient_db_error(exc) or self._tried:
            return False
        pool = self._database.pool
        pool.mark_down(failed, exc.__class__.__name__)
        pool.record_retry()
        self._tried.add(failed)
        await self.rollback()
        replica = pool.choose(self._min_lsn, exclude=frozenset(self._tried))
        routing = self.sync_session
        assert isinstance(routing, RoutingSession)
        routing.retarget(self._database.engines.replicas[replica.name] if replica else None)
        self._serve_from(replica)
        return True

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().execute(*args, **kwargs)
        except FAILOVER_ERRORS as exc:
            if not await self._fail_over(exc):
                raise
            return await super().execute(*args, **kwargs)

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().scalar(*args, **kwargs)
        except FAILOVER_ERRORS as exc:
            if not await self._fail_over(exc):
                raise
            return await super().scalar(*args, **kwargs)


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
        database=database, request=request, min_lsn=min_lsn,
        replica=database.pool.choose(min_lsn), expire_on_commit=False,
    )  # fmt: skip
    try:
        yield ReadSession(session)
    finally:
        await session.close()


async def write_session(
    request: Request, database: Annotated[Database, Depends(get_database)]
) -> AsyncIterator[WriteSession]:
    breaker = database.pool.breaker
    if not breaker.allow():
        raise _primary_unavailable(database)
    session = AsyncSession(
        sync_session_class=RoutingSession, primary=database.engines.primary,
        expire_on_commit=False,
    )  # fmt: skip
    request.state.served_by = "primary"
    try:
        yield WriteSession(session)
        if session.in_transaction():
            await session.commit()
            lsn = await session.scalar(text("SELECT pg_current_wal_insert_lsn()::text"))
            request.state.consistency_token = lsn
        breaker.record_success()
    except BaseException as exc:
        if is_transient_db_error(exc):
            breaker.record_failure(exc.__class__.__name__)
        await session.rollback()
        raise
    finally:
        await session.close()


ReadSessionDep = Annotated[ReadSession, Depends(read_session)]
WriteSessionDep = Annotated[WriteSession, Depends(write_session, scope="function")]
