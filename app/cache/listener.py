"""Hears the primary's `trackr_products` notifications (alembic revision 7d3f9b2c1e44: sent
by triggers, delivered only when a change commits) and drops what the cache holds for the
changed products. While the channel is down — the primary lost, a failover, a connection
cut — the memory tier is emptied and not used, since changes could go unheard; once the
channel is back (to whichever node is the writer now) it is emptied again and used.

After each notification the primary's WAL position is read on the same connection, which
settles the cache's floors (app/cache/floors.py). That read, or the same one every half TTL
(at most a second) when nothing changed, also tells a silent connection from a live one, and
its answer vouches for the entries the cache holds: PostgreSQL sends a listener the
notifications of every transaction committed before a query of its before that query's
answer, so when the answer comes back, whatever changed before the query was sent has been
heard and dropped (ReadCache.confirm)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import asyncpg

from app.cache.store import ReadCache
from app.db.failures import DRIVER_ERRORS
from app.db.lsn import parse_lsn
from app.db.replicas import ReplicaPool
from app.db.sockets import bounded_connection

log = logging.getLogger("trackr.cache")

CHANNEL = "trackr_products"
CHECK_SECONDS = 1.0  # at most: a silent connection is found within a check and its timeout
WAL_WRITTEN = "SELECT pg_current_wal_lsn()::text"  # past every commit already notified


class InvalidationListener:
    def __init__(self, cache: ReadCache, pool: ReplicaPool) -> None:
        self.cache = cache
        self.pool = pool
        self.timeout = pool.settings.replica_check_timeout_seconds
        # Twice per TTL, so that an entry older than the TTL stays vouched for between checks.
        self.check_seconds = min(CHECK_SECONDS, cache.ttl / 2)
        self.connected = False
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._heard_some = asyncio.Event()

    async def start(self) -> None:
        await self._connect()
        self._task = asyncio.create_task(self._watch(), name="cache-invalidations")

    async def stop(self) -> None:
        self.connected = False  # a stop is no loss to report
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._drop()

    async def _watch(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.check_seconds):
                    await self._heard_some.wait()
            self._heard_some.clear()
            try:
                if self._conn is None or self._conn.is_closed():
                    self._lost("the connection closed")
                    await self._connect()
                if self._conn is not None:
                    await self._settle(self._conn)
            except DRIVER_ERRORS as exc:
                self._lost(f"{exc.__class__.__name__}: {exc}")
            except Exception:  # the listener must never die
                log.exception("cache invalidation check failed")

    async def _settle(self, conn: asyncpg.Connection) -> None:
        taken = self.cache.floors.take()
        asked_at = time.monotonic()
        try:
            position = parse_lsn(await conn.fetchval(WAL_WRITTEN, timeout=self.timeout))
        except BaseException:
            self.cache.floors.give_back(taken)
            raise
        # asyncpg schedules the notifications that came before this answer ahead of it.
        self.cache.floors.settle(taken, position)
        self.cache.confirm(asked_at)

    async def _connect(self) -> None:
        settings = self.pool.settings
        conn: asyncpg.Connection | None = None
        try:
            # One deadline for the connect and the LISTEN: a node that hangs between the two
            # would otherwise hold this check (and the app's start) for good.
            async with asyncio.timeout(self.timeout):
                conn = await asyncpg.connect(
                    self.pool.primary.dsn,
                    server_settings={"application_name": "trackr-cache"},
                    connection_class=bounded_connection(settings.db_tcp_user_timeout_seconds),
                )
                await conn.add_listener(CHANNEL, self._heard)
        except DRIVER_ERRORS as exc:  # asyncio's TimeoutError is an OSError
            if conn is not None:
                conn.terminate()
            self._lost(f"cannot listen: {exc.__class__.__name__}: {exc}")
            return
        self._conn = conn
        conn.add_termination_listener(lambda _: self._lost("the connection closed"))
        if not self.connected:
            self.connected = True
            self.cache.use_memory_again()
            self._heard_some.set()  # settle the floors that raised now, not a check later
            log.info("cache invalidations heard again; memory tier in use")

    def _heard(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            ids = None if payload == "*" else [int(part) for part in payload.split(",") if part]
        except ValueError:
            ids = None
        self.cache.invalidate(ids)
        self._heard_some.set()

    def _lost(self, why: str) -> None:
        if self.connected:
            log.warning("cache invalidations lost (%s): memory tier bypassed", why)
        self.connected = False
        self.cache.stop_using_memory()
        self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()
