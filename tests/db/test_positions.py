"""The consistency token's position read, shared by the writes that committed before it was
sent (app/db/positions.py), on the real primary. The reads here are slowed by pg_sleep so
commits land while one is on its way."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from app.db.lsn import parse_lsn
from app.db.positions import SharedPositionReads
from app.localcluster import Cluster

# The position is taken first, then the read dawdles: a commit during the sleep is past it.
SLOW_READ = "SELECT pg_current_wal_insert_lsn()::text, pg_sleep(0.4)"


async def _connect(cluster: Cluster, n: int) -> list[asyncpg.Connection]:
    return [await asyncpg.connect(cluster.env()["DATABASE_URL"]) for _ in range(n)]


async def _commit(connection: asyncpg.Connection) -> int:
    """Commit a write; return a position at or past its commit (read on its own connection
    right after it, before anything else the test sends)."""
    async with connection.transaction():
        await connection.execute("INSERT INTO positions_probe VALUES (1)")
    return parse_lsn(await connection.fetchval("SELECT pg_current_wal_insert_lsn()::text"))


async def _a_read_on_its_way_and_the_next_batchs_leader(
    reads: SharedPositionReads, a: asyncpg.Connection, b: asyncpg.Connection
) -> tuple[asyncio.Task[str], asyncio.Task[str]]:
    """`a` commits and sends its (slow) read; `b` commits after the read left, so it gathers
    the next batch and waits to send it."""
    await _commit(a)
    first = asyncio.create_task(reads.after_commit(a, 0))
    await asyncio.sleep(0.1)
    await _commit(b)
    leader = asyncio.create_task(reads.after_commit(b, 0))
    await asyncio.sleep(0.05)
    return first, leader


def _run(cluster: Cluster, test: Callable[[list[asyncpg.Connection]], Awaitable[None]]) -> None:
    async def main() -> None:
        connections = await _connect(cluster, 4)
        await connections[0].execute("CREATE TABLE IF NOT EXISTS positions_probe (x int)")
        try:
            await test(connections)
        finally:
            await connections[0].execute("DROP TABLE positions_probe")
            for connection in connections:
                await connection.close()

    asyncio.run(main())


def test_commits_during_a_read_share_the_next_one(migrated: Cluster) -> None:
    async def test(connections: list[asyncpg.Connection]) -> None:
        a, b, c, d = connections
        reads = SharedPositionReads(SLOW_READ)
        await _commit(a)
        first = asyncio.create_task(reads.after_commit(a, 0))
        await asyncio.sleep(0.1)  # a's read is on its way; b, c and d commit after it left

        async def write(connection: asyncpg.Connection) -> tuple[int, int]:
            floor = await _commit(connection)
            return floor, parse_lsn(await reads.after_commit(connection, 0))

        later = await asyncio.gather(write(b), write(c), write(d))
        before = parse_lsn(await first)
        assert reads.reads == 2
        assert reads.shared == 2
        assert len({token for _, token in later}) == 1  # one read served all three
        for floor, token in later:
            assert token >= floor > before

    _run(migrated, test)


def test_another_writers_batch_is_not_shared(migrated: Cluster) -> None:
    async def test(connections: list[asyncpg.Connection]) -> None:
        a, b, c, _ = connections
        reads = SharedPositionReads(SLOW_READ)
        first, leader = await _a_read_on_its_way_and_the_next_batchs_leader(reads, a, b)
        floor = await _commit(c)
        assert parse_lsn(await reads.after_commit(c, 1)) >= floor  # a new writer: its own
        await asyncio.gather(first, leader)
        assert reads.reads == 3
        assert reads.shared == 0

    _run(migrated, test)


def test_a_failed_shared_read_leaves_its_writes_to_read_for_themselves(
    migrated: Cluster,
) -> None:
    async def test(connections: list[asyncpg.Connection]) -> None:
        a, b, c, killer = connections
        reads = SharedPositionReads(SLOW_READ)
        first, leader = await _a_read_on_its_way_and_the_next_batchs_leader(reads, a, b)
        floor = await _commit(c)
        waiter = asyncio.create_task(reads.after_commit(c, 0))
        await first  # the leader's read is sent now: cut its connection while it sleeps
        await asyncio.sleep(0.1)
        await killer.execute("SELECT pg_terminate_backend($1)", b.get_server_pid())
        with pytest.raises(asyncpg.PostgresError):
            await leader
        assert parse_lsn(await waiter) >= floor
        assert reads.shared == 0

    _run(migrated, test)
