"""The consistency token's position, read once for every write that committed before the read
was sent: a write's last round trip, shared under load.

Any position the primary reports after a commit has returned is at or past that commit, so
one read serves every write whose COMMIT had returned when the read was sent. A write that
commits while a read is on its way joins the next read (the first to join sends it, once
the read on its way is back); only writes to the same writer (the pool's writer generation)
share one. A write whose shared read failed reads for itself, as every write did before.
"""

from __future__ import annotations

import asyncio

import asyncpg

# The token: a WAL position at or past the commit's end. The insert position read after the
# commit also covers other sessions' WAL, which a leader that froze a moment later may never
# have sent: no standby would ever reach it, and the token's reads would wait for the next
# leader. A synchronous standby's flush position is past this commit (the commit waited for
# it) and on that standby, so the smaller of the two is exact enough and reachable. Seeing a
# standby's positions takes pg_read_all_stats (granted to the app role where trackr creates
# it); without it, or with no synchronous standby, the subquery is NULL, which LEAST ignores:
# the insert position stands. The function under the pg_stat_replication view, not the view:
# the view joins every backend's activity, which cost the primary 25 µs more per read on an
# idle connection and ~180 µs more per create under write load (docs/performance-notes.md,
# step 25).
COMMITTED_POSITION = """
    SELECT LEAST(pg_current_wal_insert_lsn(),
                 (SELECT max(flush_lsn) FROM pg_stat_get_wal_senders()
                  WHERE sync_state IN ('sync', 'quorum')))::text
"""


class _Batch:
    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.position: asyncio.Future[str] = asyncio.get_running_loop().create_future()


class SharedPositionReads:
    def __init__(self, query: str = COMMITTED_POSITION) -> None:
        self._query = query
        self._on_its_way: asyncio.Future[None] | None = None  # done when that read is back
        self._gathering: _Batch | None = None  # writes waiting for the next read
        self.reads = 0  # queries sent
        self.shared = 0  # writes served by another write's query

    async def after_commit(self, connection: asyncpg.Connection, generation: int) -> str:
        """A position at or past this write's commit, which has just returned."""
        on_its_way, batch = self._on_its_way, self._gathering
        if on_its_way is None:
            return await self._send(connection, None)
        if batch is None:
            batch = self._gathering = _Batch(generation)
            try:
                await asyncio.shield(on_its_way)
            except BaseException as exc:
                self._abandon(batch, exc)
                raise
            return await self._send(connection, batch)
        if batch.generation != generation:
            return await self._read(connection)
        try:
            position = await asyncio.shield(batch.position)
        except asyncio.CancelledError:
            raise
        except Exception:  # the write that sent it lost its connection: read here
            return await self._read(connection)
        self.shared += 1
        return position

    async def _send(self, connection: asyncpg.Connection, batch: _Batch | None) -> str:
        if batch is not None and self._gathering is batch:
            self._gathering = None  # later commits wait for the read after this one
        back = self._on_its_way = asyncio.get_running_loop().create_future()
        try:
            position = await self._read(connection)
        except BaseException as exc:
            self._abandon(batch, exc)
            raise
        finally:
            back.set_result(None)
            if self._on_its_way is back:
                self._on_its_way = None
        if batch is not None:
            batch.position.set_result(position)
        return position

    async def _read(self, connection: asyncpg.Connection) -> str:
        self.reads += 1
        position: str = await connection.fetchval(self._query)
        return position

    def _abandon(self, batch: _Batch | None, exc: BaseException) -> None:
        """The batch's writes read for themselves."""
        if batch is None:
            return
        if self._gathering is batch:
            self._gathering = None
        batch.position.set_exception(RuntimeError(f"the shared position read failed: {exc!r}"))
        batch.position.exception()  # retrieved here: its writes may all have ended
