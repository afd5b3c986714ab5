"""Per-request sessions: `ReadSession` (a replica when one qualifies) and `WriteSession` (primary).

The types differ so the intent shows in every signature. Commit happens here and only here,
before the response is built; a successful write then records the primary's WAL insert position
as the response's `X-Consistency-Token`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, NewType

from fastapi import Depends, Header, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.database import Database
from app.db.lsn import parse_lsn
from app.db.routing import RoutingSession
from app.errors import InvalidConsistencyToken

ReadSession = NewType("ReadSession", AsyncSession)
WriteSession = NewType("WriteSession", AsyncSession)

CONSISTENCY_HEADER = "X-Consistency-Token"
SERVED_BY_HEADER = "X-Served-By"


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


async def read_session(
    request: Request,
    database: Annotated[Database, Depends(get_database)],
    consistency_token: Annotated[
        str | None,
        Header(alias=CONSISTENCY_HEADER, description="Read at least this fresh (from a write)"),
    ] = None,
) -> AsyncIterator[ReadSession]:
    replica = database.pool.choose(_parse_token(consistency_token))
    engines = database.engines
    session = AsyncSession(
        sync_session_class=RoutingSession,
        primary=engines.primary,
        replica=engines.replicas[replica.name] if replica else None,
        expire_on_commit=False,
    )
    request.state.served_by = f"replica:{replica.name}" if replica else "primary"
    try:
        yield ReadSession(session)
    finally:
        await session.close()


async def write_session(
    request: Request, database: Annotated[Database, Depends(get_database)]
) -> AsyncIterator[WriteSession]:
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
    except BaseException:
        await session.rollback()
        raise
    finally:
        await session.close()


ReadSessionDep = Annotated[ReadSession, Depends(read_session)]
WriteSessionDep = Annotated[WriteSession, Depends(write_session, scope="function")]
