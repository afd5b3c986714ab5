"""A write of one statement (a create without an Idempotency-Key) is sent alone, in autocommit,
on a pooled connection that answered a write within TRUSTED_FOR_SECONDS; any other connection
is checked by BEGIN first (app/db/session.py). On the real primary; what the driver sent is
read from asyncpg's query loggers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from fastapi.testclient import TestClient

from app.db import session as write_sessions
from app.db.database import Database
from app.db.lsn import parse_lsn
from app.db.replicas import ReplicaPool
from app.db.session import write_transaction
from app.localcluster import Cluster
from app.main import create_app
from app.products.repository import insert_product
from tests.conftest import make_settings
from tests.support import bearer
from tests.test_routing import MAC

GAME = {
    "category": "games",
    "name": "one statement",
    "url": None,
    "price": Decimal("9.99"),
    "currency": "USD",
    "in_stock": True,
    "attributes": {"platform": "SNES"},
}


@asynccontextmanager
async def _database(cluster: Cluster) -> AsyncIterator[Database]:
    # One pooled connection: every write here meets the one the previous write used.
    settings = make_settings(cluster, database_replica_urls="", db_pool_size=1)
    database = Database.for_pool(ReplicaPool.from_settings(settings))
    await database.start()
    try:
        yield database
    finally:
        await database.stop()


class _Sent:
    """The statements the driver sent on the connections it was given, in order."""

    def __init__(self) -> None:
        self.queries: list[str] = []
        self._watched: set[int] = set()

    def watch(self, driver: asyncpg.Connection) -> None:
        if id(driver) not in self._watched:
            self._watched.add(id(driver))
            driver.add_query_logger(lambda record: self.queries.append(record.query.strip()))

    def kinds(self) -> list[str]:
        """BEGIN, COMMIT, the token's position read, or the write's own statement."""
        return [
            q if q in ("BEGIN", "COMMIT") else "token" if "wal_insert_lsn" in q else "write"
            for q in self.queries
        ]


async def _create(database: Database, sent: _Sent, one_statement: bool = True) -> tuple[int, str]:
    async with write_transaction(database, one_statement) as transaction:
        session = transaction.session
        real_driver = session._driver

        async def watched() -> asyncpg.Connection:
            driver = await real_driver()
            sent.watch(driver)
            return driver

        session._driver = watched
        row = await insert_product(session, GAME)
    await asyncio.sleep(0.01)  # the loggers' callbacks run on the loop
    assert transaction.consistency_token is not None
    return row["id"], transaction.consistency_token


def _run(cluster: Cluster, test: Callable[[Database], Awaitable[None]]) -> None:
    async def main() -> None:
        async with _database(cluster) as database:
            await test(database)

    asyncio.run(main())


def test_a_recently_answered_connection_takes_the_statement_alone(clean_db: Cluster) -> None:
    async def test(database: Database) -> None:
        sent = _Sent()
        await _create(database, sent)  # a new connection (checked by BEGIN), watched from here
        sent.queries.clear()
        created, token = await _create(database, sent)  # the same one, just answered
        assert sent.kinds() == ["write", "token"], sent.queries
        # Committed when the statement returned, and the token is at or past that commit.
        connection = await asyncpg.connect(clean_db.env()["DATABASE_URL"])
        try:
            assert await connection.fetchval("SELECT count(*) FROM products WHERE id = $1", created)
            committed = await connection.fetchval("SELECT pg_current_wal_insert_lsn()::text")
            assert parse_lsn(token) <= parse_lsn(committed)
            points = "SELECT count(*) FROM price_history WHERE product_id = $1"
            assert await connection.fetchval(points, created) == 1  # its price point too
        finally:
            await connection.close()

    _run(clean_db, test)


def test_a_connection_idle_past_the_window_is_checked_by_begin(
    clean_db: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(write_sessions, "TRUSTED_FOR_SECONDS", 0.05)

    async def test(database: Database) -> None:
        sent = _Sent()
        await _create(database, sent)
        await asyncio.sleep(0.2)
        sent.queries.clear()
        await _create(database, sent)
        assert sent.kinds() == ["BEGIN", "write", "COMMIT", "token"], sent.queries

    _run(clean_db, test)


def test_a_write_with_more_statements_always_begins(clean_db: Cluster) -> None:
    async def test(database: Database) -> None:
        sent = _Sent()
        await _create(database, sent)
        sent.queries.clear()
        await _create(database, sent, one_statement=False)
        assert sent.kinds() == ["BEGIN", "write", "COMMIT", "token"], sent.queries

    _run(clean_db, test)


def test_a_second_statement_in_a_one_statement_write_is_refused(clean_db: Cluster) -> None:
    async def two_statements(database: Database) -> None:
        async with write_transaction(database, one_statement=True) as transaction:
            await transaction.session.fetchval("SELECT 1")
            await transaction.session.fetchval("SELECT 2")

    async def test(database: Database) -> None:
        with pytest.raises(RuntimeError, match="second"):
            await two_statements(database)

    _run(clean_db, test)


def test_a_trusted_connection_whose_backend_was_terminated_is_not_used(clean_db: Cluster) -> None:
    """The server's goodbye reached the driver: the connection is closed, nothing is sent on
    it, and the write runs on a new one."""

    async def test(database: Database) -> None:
        sent = _Sent()
        await _create(database, sent)
        admin = await asyncpg.connect(clean_db.env()["DATABASE_URL"])
        try:
            terminate = (
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'trackr-api'"
            )
            await admin.execute(terminate)
        finally:
            await admin.close()
        await asyncio.sleep(0.05)  # the FATAL and the close reach the driver
        created, _ = await _create(database, sent)
        assert created

    _run(clean_db, test)


def test_creates_without_a_key_through_the_app_answer_under_either_path(
    clean_db: Cluster,
) -> None:
    """Back to back (autocommit on the trusted connection) and with a key (a transaction):
    every create answers 201 and is there to read with its token."""
    settings = make_settings(clean_db, database_replica_urls="", db_pool_size=1)
    auth = bearer(settings, "products:write")
    with TestClient(create_app(settings)) as client:
        ids: list[Any] = []
        for index in range(6):
            headers = {**auth, **({"Idempotency-Key": f"key-{index}"} if index % 3 == 2 else {})}
            written = client.post("/api/products", json=MAC, headers=headers)
            assert written.status_code == 201, written.text
            ids.append(written.json()["id"])
        for product_id in ids:
            assert client.get(f"/api/products/{product_id}").status_code == 200
