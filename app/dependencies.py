"""FastAPI dependencies for the database: the process's handle, routed reads, write
transactions, and the response headers they produce (`X-Served-By`, `X-Consistency-Token`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, Request

from app.db.database import Database
from app.db.lsn import LSN_PATTERN
from app.db.routing import ReadSession
from app.db.session import WriteSession, open_read, parse_token, write_transaction

CONSISTENCY_HEADER = "X-Consistency-Token"
SERVED_BY_HEADER = "X-Served-By"
# OpenAPI for routes that take a ReadSession (`openapi_extra={"parameters": [...]}`).
CONSISTENCY_PARAMETER = {
    "name": CONSISTENCY_HEADER,
    "in": "header",
    "required": False,
    "description": "Read at least this fresh: the token a write response returned "
    "(empty: no token)",
    "schema": {
        "type": "string",
        "pattern": f"^({LSN_PATTERN.strip('^$')})?$",
        "example": "0/16B3748",
    },
}
READ_ROUTE_OPENAPI = {"parameters": [CONSISTENCY_PARAMETER]}


def database_of(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_database(request: Request) -> Database:
    """The process's database handle (async: a sync dependency would run in a thread)."""
    return database_of(request)


CACHE_FLOOR = "cache_floor"  # set by the read cache (app/cache) on a read it would keep


def served_by(state: dict[str, Any]) -> str | None:
    """Who served this request's reads (the node a read session ended on), or its writes."""
    session: ReadSession | None = state.get("read_session")
    return session.served_by if session is not None else state.get("served_by")


async def read_session(request: Request) -> ReadSession:
    """A routed read session for this request.

    The consistency header is read here rather than declared as a parameter, which FastAPI
    would re-validate on every read; read routes document it with `CONSISTENCY_PARAMETER`.
    """
    min_lsn = parse_token(request.headers.get(CONSISTENCY_HEADER), CONSISTENCY_HEADER)
    wanted_stamp = getattr(request.state, CACHE_FLOOR, None)
    session = await open_read(database_of(request), min_lsn, wanted_stamp)
    request.state.read_session = session
    return session


@asynccontextmanager
async def request_write(
    request: Request, database: Database, one_statement: bool = False
) -> AsyncIterator[WriteSession]:
    """A write transaction for this request, committed when the block ends; the response
    then carries its consistency token. `one_statement`: see `write_transaction`."""
    async with write_transaction(database, one_statement) as transaction:
        request.state.served_by = "primary"
        yield transaction.session
    request.state.consistency_token = transaction.consistency_token


async def write_session(
    request: Request, database: Annotated[Database, Depends(get_database)]
) -> AsyncIterator[WriteSession]:
    async with request_write(request, database) as session:
        yield session


ReadSessionDep = Annotated[ReadSession, Depends(read_session)]
WriteSessionDep = Annotated[WriteSession, Depends(write_session, scope="function")]
