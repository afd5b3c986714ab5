"""Per-request sessions: `ReadSession` (a replica when one qualifies) and `WriteSession` (primary).

The types differ so the intent shows in every signature. Commit happens here and only here,
before the response is built; a successful write then records the primary's WAL insert position
as the response's `X-Consistency-Token`. Writes check the primary's circuit breaker first and
fail fast while it is open. Reads are routed by `app.db.routing.ReadSession`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, NewType

from fastapi import Depends, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.database import Database
from app.db.lsn import parse_lsn
from app.db.routing import ReadSession, primary_unavailable, quietly
from app.errors import InvalidConsistencyToken, is_connect_failure

WriteSession = NewType("WriteSession", AsyncSession)

CONSISTENCY_HEADER = "X-Consistency-Token"
SERVED_BY_HEADER = "X-Served-By"
# OpenAPI for routes that take a ReadSession (`openapi_extra={"parameters": [...]}`).
CONSISTENCY_PARAMETER = {
    "name": CONSISTENCY_HEADER,
    "in": "header",
    "required": False,
    "description": "Read at least this fresh: the token a write response returned",
    "schema": {"type": "string", "example": "0/16B3748"},
}
READ_ROUTE_OPENAPI = {"parameters": [CONSISTENCY_PARAMETER]}


def database_of(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_database(request: Request) -> Database:
    """The process's database handle (async: a sync dependency would run in a thread)."""
    return database_of(request)


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


async def read_session(request: Request) -> ReadSession:
    """A routed read session (no cleanup: it holds a connection only while a statement runs).

    The consistency header is read here rather than declared as a parameter, which FastAPI
    would re-validate on every read; read routes document it with `CONSISTENCY_PARAMETER`.
    """
    database = database_of(request)
    min_lsn = _parse_token(request.headers.get(CONSISTENCY_HEADER))
    replica = database.pool.choose(min_lsn, defer_token_fallback=True)
    session = ReadSession(database, request, min_lsn=min_lsn, replica=replica)
    await session.begin()
    return session


async def write_session(
    request: Request, database: Annotated[Database, Depends(get_database)]
) -> AsyncIterator[WriteSession]:
    breaker = database.pool.breaker
    if not breaker.allow():
        raise primary_unavailable(database)
    session = AsyncSession(bind=database.engines.primary, expire_on_commit=False)
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
        await quietly(session.rollback)
        raise
    finally:
        await quietly(session.close)


ReadSessionDep = Annotated[ReadSession, Depends(read_session)]
WriteSessionDep = Annotated[WriteSession, Depends(write_session, scope="function")]
