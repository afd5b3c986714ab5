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
from typing import Any, NewType

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.database import Database
from app.db.failures import DISCONNECTS, DRIVER_ERRORS, classify, describe, is_connect_failure
from app.db.lsn import parse_lsn
from app.db.routing import ReadSession, primary_unavailable, quietly
from app.errors import InvalidConsistencyToken, SiteCutOff

WriteSession = NewType("WriteSession", AsyncSession)


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
COMMITTED_POSITION = text(
    """
    SELECT LEAST(pg_current_wal_insert_lsn(),
                 (SELECT max(flush_lsn) FROM pg_stat_replication
                  WHERE sync_state IN ('sync', 'quorum')))::text
    """
)


@dataclass
class WriteTransaction:
    session: WriteSession
    consistency_token: str | None = None  # a WAL position at or past the commit (see above)


@asynccontextmanager
async def write_transaction(database: Database) -> AsyncIterator[WriteTransaction]:
    """One transaction on the primary, committed when the block ends without an error."""
    refuse_write_if_cut_off(database)
    breaker = database.pool.breaker
    if not breaker.allow():
        raise primary_unavailable(database)
    session = AsyncSession(bind=database.engines.primary, expire_on_commit=False)
    transaction = WriteTransaction(WriteSession(session))
    generation = database.pool.writer_generation
    driver: Any = None
    try:
        # The whole write, commit included, has one deadline: a hung or partitioned primary
        # answers nothing, and every statement's own timeout would add up.
        async with asyncio.timeout(database.pool.settings.db_write_timeout_seconds):
            # Checked out and pinged now, the driver's connection at hand should the deadline
            # pass mid-statement. Not SQLAlchemy's pre-ping: it pings inside a transaction
            # and rolls back in a `finally`, so a deadline that cancels the ping on a silent
            # server then waits out the rollback's own timeout too (5-7.5 s seen, for 3).
            for fresh in (False, True):
                raw = await (await session.connection()).get_raw_connection()
                driver = raw.driver_connection
                try:
                    await driver.execute("SELECT 1")
                    break
                except DRIVER_ERRORS as exc:
                    if fresh or classify(exc) not in DISCONNECTS:
                        raise
                    # A pooled connection to a node that died or was demoted: once more,
                    # on a new one.
                    driver.terminate()
                    await session.invalidate()
            yield transaction
            if session.in_transaction():
                await session.commit()
                lsn = await session.scalar(COMMITTED_POSITION)
                transaction.consistency_token = lsn
                # A token this node issued is never "ahead of every position": its reads
                # need not ask the primary (which may be hanging by then) to believe it.
                database.pool.saw_wal_position(parse_lsn(lsn))
        breaker.record_success()
    except BaseException as exc:
        if is_connect_failure(exc) and generation == database.pool.writer_generation:
            breaker.record_failure(describe(exc))
        if isinstance(exc, TimeoutError | asyncio.CancelledError):
            # Its connection is mid-statement on a silent server: a rollback, the pool's reset
            # on return, even SQLAlchemy's polite close before it terminates (2 s) would wait
            # again. Cut first, then dropped from the pool.
            if driver is not None:
                driver.terminate()
            await quietly(session.invalidate)
        else:
            await quietly(session.rollback)
        raise
    finally:
        await quietly(session.close)
