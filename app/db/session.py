"""Per-request sessions: `ReadSession` (a replica when one qualifies) and `WriteSession` (primary).

The types differ so the intent shows in every signature. A write transaction commits here and
only here, before the response is built; a successful write then records the primary's WAL
insert position, which the web layer returns as the consistency token. Writes check the
primary's circuit breaker first and fail fast while it is open. Reads are routed by
`app.db.routing.ReadSession`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from asyncpg import PostgresError, Record
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from app.db.database import Database
from app.db.failures import (
    DISCONNECTS,
    DRIVER_ERRORS,
    classify,
    describe,
    is_connect_failure,
    is_transient,
)
from app.db.lsn import parse_lsn
from app.db.routing import ReadSession, check_in, primary_unavailable
from app.errors import InvalidConsistencyToken, SiteCutOff


def parse_token(raw: str | None, name: str) -> int | None:
    """A consistency token (a WAL position such as 0/16B3748) as an LSN; None when absent."""
    if raw is None or not raw.strip():
        return None
    try:
        return parse_lsn(raw)
    except ValueError:
        raise InvalidConsistencyToken(
            f"{name} must be a WAL position such as 0/16B3748 "
            "(send back the value a write response gave you)"
        ) from None


async def open_read(database: Database, min_lsn: int | None) -> ReadSession:
    """A routed read session (no cleanup: it holds a connection only while a statement runs)."""
    refuse_if_cut_off(database)
    replica = database.pool.choose(min_lsn, defer_token_fallback=True)
    session = ReadSession(database, min_lsn=min_lsn, replica=replica)
    await session.begin()
    return session


def refuse_if_cut_off(database: Database) -> None:
    """A site cut off from the others past the grace serves no read: the others may have
    taken writes it cannot see. Clients move to another site."""
    pool = database.pool
    cut_off = pool.cut_off_seconds()
    if cut_off is not None and pool.past_partition_grace():
        raise _cut_off(database, cut_off, "its data may be stale; read at another site")


def refuse_write_if_cut_off(database: Database) -> None:
    """A site cut off from the others takes no write, grace or not: its commit could reach
    no other site's synchronous standby, and its node is about to lose the leader lock.
    Refused at once rather than after the write deadline, so clients move on at once."""
    cut_off = database.pool.cut_off_seconds()
    if cut_off is not None:
        raise _cut_off(database, cut_off, "write at another site")


def _cut_off(database: Database, seconds: float, advice: str) -> SiteCutOff:
    reach = database.pool.reachability
    return SiteCutOff(
        f"this site has reached only {reach.answered} of {reach.total} database nodes for "
        f"{seconds:.0f} s: cut off from the other sites; {advice}",
        retry_after_seconds=5,
    )


# The token: a WAL position at or past the commit's end. The insert position read after the
# commit also covers other sessions' WAL, which a leader that froze a moment later may never
# have sent: no standby would ever reach it, and the token's reads would wait for the next
# leader. A synchronous standby's flush position is past this commit (the commit waited for
# it) and on that standby, so the smaller of the two is exact enough and reachable. Seeing a
# standby's positions takes pg_read_all_stats (granted to the app role where trackr creates
# it); without it, or with no synchronous standby, the subquery is NULL, which LEAST ignores:
# the insert position stands.
COMMITTED_POSITION = """
    SELECT LEAST(pg_current_wal_insert_lsn(),
                 (SELECT max(flush_lsn) FROM pg_stat_replication
                  WHERE sync_state IN ('sync', 'quorum')))::text
"""


class WriteSession:
    """The statements of one write transaction on the primary's driver connection, with
    asyncpg's `$n` SQL (as `ReadSession` for reads): no ORM on the write path."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def fetchrow(self, sql: str, *args: Any) -> Record | None:
        row: Record | None = await self._connection.fetchrow(sql, *args)
        return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._connection.fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> str:
        status: str = await self._connection.execute(sql, *args)
        return status


@dataclass
class WriteTransaction:
    session: WriteSession
    consistency_token: str | None = None  # a WAL position at or past the commit (see above)


@asynccontextmanager
async def write_transaction(database: Database) -> AsyncIterator[WriteTransaction]:
    """One transaction on the primary, committed when the block ends without an error.

    Four round trips around the work: BEGIN, the statements, COMMIT, the token. BEGIN is also
    the check that a pooled connection still works: on one to a node that died or was
    demoted it fails, and the write starts again on a new connection.
    """
    refuse_write_if_cut_off(database)
    breaker = database.pool.breaker
    if not breaker.allow():
        raise primary_unavailable(database)
    engine = database.engines.primary.sync_engine
    generation = database.pool.writer_generation
    connection: PoolProxiedConnection | None = None
    broken: BaseException | None = None  # set: the connection is cut, never reused
    try:
        # The whole write, commit included, has one deadline: a hung or partitioned primary
        # answers nothing, and every statement's own timeout would add up.
        async with asyncio.timeout(database.pool.settings.db_write_timeout_seconds):
            for fresh in (False, True):
                connection = await greenlet_spawn(engine.raw_connection)
                driver: asyncpg.Connection = connection.driver_connection
                try:
                    await driver.execute("BEGIN")
                    break
                except DRIVER_ERRORS as exc:
                    if fresh or classify(exc) not in DISCONNECTS:
                        raise
                    await check_in(engine.pool, connection, exc)
                    connection = None
            transaction = WriteTransaction(WriteSession(driver))
            try:
                yield transaction
            except Exception as exc:
                if _server_answered(exc) and not await _rolled_back(driver):
                    broken = exc
                raise
            await driver.execute("COMMIT")
            lsn = await driver.fetchval(COMMITTED_POSITION)
            transaction.consistency_token = lsn
            # A token this node issued is never "ahead of every position": its reads need
            # not ask the primary (which may be hanging by then) to believe it.
            database.pool.saw_wal_position(parse_lsn(lsn))
        breaker.record_success()
    except BaseException as exc:
        if is_connect_failure(exc) and generation == database.pool.writer_generation:
            breaker.record_failure(describe(exc))
        if not _server_answered(exc) or (isinstance(exc, PostgresError) and is_transient(exc)):
            # Dropped, timed out or cancelled mid-statement, or the server is leaving: the
            # connection's state is unknown, so it is cut (a polite rollback or close would
            # wait on a silent server again) and older pooled ones are recycled.
            broken = exc
        raise
    finally:
        if connection is not None:
            await check_in(engine.pool, connection, broken)


def _server_answered(exc: BaseException) -> bool:
    """The connection is fine after `exc`: the server refused a statement, or the work
    raised an error of its own (not found, a version conflict)."""
    if isinstance(exc, PostgresError):
        return True
    return isinstance(exc, Exception) and not isinstance(exc, DRIVER_ERRORS)


async def _rolled_back(driver: asyncpg.Connection) -> bool:
    """End the failed transaction so the connection can go back to the pool."""
    try:
        if driver.is_in_transaction():
            await driver.execute("ROLLBACK")
    except DRIVER_ERRORS:
        return False
    return True
