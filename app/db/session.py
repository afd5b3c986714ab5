"""Per-request sessions: `ReadSession` (a replica when one qualifies) and `WriteSession` (primary).

The types differ so the intent shows in every signature. A write transaction commits here and
only here, before the response is built; a successful write then records the primary's WAL
insert position, which the web layer returns as the consistency token. Writes check the
primary's circuit breaker first and fail fast while it is open. Reads are routed by
`app.db.routing.ReadSession`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
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


async def open_read(
    database: Database, min_lsn: int | None, wanted_stamp: int | None = None
) -> ReadSession:
    """A routed read session (no cleanup: it holds a connection only while a statement runs).
    `wanted_stamp`: the WAL position the read cache needs the answer to show to keep it."""
    refuse_if_cut_off(database)
    replica = database.pool.choose(min_lsn, defer_token_fallback=True)
    session = ReadSession(database, min_lsn=min_lsn, replica=replica, wanted_stamp=wanted_stamp)
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


class WriteSession:
    """The statements of one write transaction on the primary's driver connection, with
    asyncpg's `$n` SQL (as `ReadSession` for reads): no ORM on the write path. The
    transaction starts with the first statement."""

    def __init__(self, driver: Callable[[], Awaitable[asyncpg.Connection]]) -> None:
        self._driver = driver
        self.statements = 0

    @classmethod
    def on(cls, connection: asyncpg.Connection) -> WriteSession:
        """Statements on a connection whose transaction the caller runs."""

        async def driver() -> asyncpg.Connection:
            return connection

        return cls(driver)

    async def _next(self) -> asyncpg.Connection:
        connection = await self._driver()
        self.statements += 1
        return connection

    async def fetchrow(self, sql: str, *args: Any) -> Record | None:
        row: Record | None = await (await self._next()).fetchrow(sql, *args)
        return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await (await self._next()).fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> str:
        status: str = await (await self._next()).execute(sql, *args)
        return status


# A write of one statement (a create without an Idempotency-Key) needs no transaction of its
# own: on a pooled connection that answered a write this recently it is sent alone, in
# autocommit, and is two round trips with the token's position (docs/performance-notes.md,
# step 24). A node that died or restarted since can make it fail after it was sent, when it
# cannot be retried; this window bounds that to writes sent within a moment of the node's
# failure, which fail alike with or without BEGIN. An older connection is checked by BEGIN.
TRUSTED_FOR_SECONDS = 0.25
ANSWERED_AT = "trackr_write_answered_at"  # in the pool's record of the connection (`info`)


@dataclass
class WriteTransaction:
    session: WriteSession
    consistency_token: str | None = None  # a WAL position at or past the commit (see above)


class _PrimaryConnection:
    """The write's pooled connection, checked out at its first statement. `one_statement`:
    the write sends one statement, in autocommit on a connection trusted as recently
    answered (see TRUSTED_FOR_SECONDS); a second one is refused as a bug."""

    def __init__(self, database: Database, one_statement: bool = False) -> None:
        self.engine = database.engines.primary.sync_engine
        self.connection: PoolProxiedConnection | None = None
        self.one_statement = one_statement

    @property
    def driver(self) -> asyncpg.Connection | None:
        return None if self.connection is None else self.connection.driver_connection

    async def ready(self) -> asyncpg.Connection:
        """The connection, its transaction begun. A pooled connection to a node that died or
        was demoted fails its BEGIN: the write then starts again on a new one. BEGIN is that
        check: a write sent without it (autocommit) could not be retried when it fails on a
        stale connection, since it might have run (docs/performance-notes.md, step 19). A
        one-statement write on a recently answered connection is the exception (above)."""
        if self.connection is not None:
            if self.one_statement:
                raise RuntimeError("a write declared as one statement sent a second one")
            driver: asyncpg.Connection = self.connection.driver_connection
            return driver
        for fresh in (False, True):
            self.connection = await greenlet_spawn(self.engine.raw_connection)
            driver = self.connection.driver_connection
            # A closed connection (the server's goodbye has arrived) is left to BEGIN to fail.
            if self.one_statement and not driver.is_closed() and self._answered_recently():
                return driver
            try:
                await driver.execute("BEGIN")
                return driver
            except DRIVER_ERRORS as exc:
                if fresh or classify(exc) not in DISCONNECTS:
                    raise
                await self.check_in(exc)
        raise AssertionError("unreachable")

    def _answered_recently(self) -> bool:
        assert self.connection is not None
        answered_at: float | None = self.connection.info.get(ANSWERED_AT)
        return answered_at is not None and time.monotonic() - answered_at < TRUSTED_FOR_SECONDS

    def answered(self) -> None:
        """The write's statements, commit and token read all answered on this connection."""
        if self.connection is not None:
            self.connection.info[ANSWERED_AT] = time.monotonic()

    async def check_in(self, broken: BaseException | None) -> None:
        if self.connection is not None:
            connection, self.connection = self.connection, None
            await check_in(self.engine.pool, connection, broken)


@asynccontextmanager
async def write_transaction(
    database: Database, one_statement: bool = False
) -> AsyncIterator[WriteTransaction]:
    """One write on the primary, committed when the block ends without an error.

    Round trips: BEGIN (when the first statement comes), the statements, COMMIT, the token; a
    write that ran no statement (a refused request) costs none. With `one_statement`, the
    statement and the token on a recently answered connection (`_PrimaryConnection`).
    """
    refuse_write_if_cut_off(database)
    breaker = database.pool.breaker
    if not breaker.allow():
        raise primary_unavailable(database)
    generation = database.pool.writer_generation
    primary = _PrimaryConnection(database, one_statement)
    broken: BaseException | None = None  # set: the connection is cut, never reused
    try:
        # The whole write, commit included, has one deadline: a hung or partitioned primary
        # answers nothing, and every statement's own timeout would add up.
        async with asyncio.timeout(database.pool.settings.db_write_timeout_seconds):
            session = WriteSession(primary.ready)
            transaction = WriteTransaction(session)
            try:
                yield transaction
            except Exception as exc:
                driver = primary.driver
                if driver is not None and _server_answered(exc) and not await _rolled_back(driver):
                    broken = exc
                raise
            driver = primary.driver
            if driver is not None:
                if driver.is_in_transaction():  # not after a one-statement write's autocommit
                    await driver.execute("COMMIT")
                lsn = await database.positions.after_commit(driver, generation)
                primary.answered()
                transaction.consistency_token = lsn
                # A token this node issued is never "ahead of every position": its reads
                # need not ask the primary (which may be hanging by then) to believe it.
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
        await primary.check_in(broken)


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
