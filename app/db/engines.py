"""Build and dispose the primary and replica engines.

Every engine connects through `asyncpg.connect(dsn)` (SQLAlchemy's `async_creator`), so a
multi-host `DATABASE_URL` with `target_session_attrs=read-write` follows a promoted primary.
Errors that mean "this node changed role or went away" are classed as disconnects, which
makes SQLAlchemy drop the connection and recycle every older pooled one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool

from app.config import Settings
from app.db.failures import DISCONNECTS, classify
from app.db.sockets import bounded_connection
from app.db.urls import normalize_dsn

DEFAULT_TCP_USER_TIMEOUT_SECONDS = 5.0


@dataclass
class Engines:
    primary: AsyncEngine
    replicas: dict[str, AsyncEngine] = field(default_factory=dict)
    # Reads need no transaction: AUTOCOMMIT saves the BEGIN and ROLLBACK round trips.
    # This view shares the primary's pool; writes keep their transactions.
    primary_reads: AsyncEngine = field(init=False)

    def __post_init__(self) -> None:
        self.primary_reads = self.primary.execution_options(isolation_level="AUTOCOMMIT")

    def reader(self, replica: str | None) -> AsyncEngine:
        """The engine plain reads use: a replica's, or the primary's autocommit view."""
        return self.replicas[replica] if replica is not None else self.primary_reads

    async def dispose(self) -> None:
        for engine in (self.primary, *self.replicas.values()):
            await engine.dispose()

    def usage(self) -> dict[str, PoolUsage]:
        """Each node's pooled connections now: in use (checked out) and idle."""
        engines = {"primary": self.primary, **self.replicas}
        return {
            name: PoolUsage(pool.checkedout(), pool.checkedin())
            for name, engine in engines.items()
            if isinstance(pool := engine.pool, QueuePool)
        }


@dataclass(frozen=True)
class PoolUsage:
    in_use: int
    idle: int


def _json_text(value: object) -> str:
    return orjson.dumps(value).decode()


def _classify_disconnects(context: ExceptionContext) -> None:
    if classify(context.original_exception) in DISCONNECTS:
        context.is_disconnect = True


def create_engine(
    url: str | Callable[[], str],
    *,
    application_name: str = "trackr",
    connect_timeout: float = 5.0,
    command_timeout: float | None = None,
    statement_timeout_ms: int | None = None,
    tcp_user_timeout: float = DEFAULT_TCP_USER_TIMEOUT_SECONDS,
    **pool: Any,
) -> AsyncEngine:
    """An engine on asyncpg; `url` may be a function, read at each new connection (the
    writer's URL follows Patroni's leader)."""
    server_settings = {"application_name": application_name}
    if statement_timeout_ms:
        server_settings["statement_timeout"] = str(statement_timeout_ms)
    current_url = url if callable(url) else (lambda: url)
    connection_class = bounded_connection(tcp_user_timeout)

    async def creator() -> asyncpg.Connection:
        return await asyncpg.connect(
            normalize_dsn(current_url()), timeout=connect_timeout,
            command_timeout=command_timeout, server_settings=server_settings,
            connection_class=connection_class,
        )  # fmt: skip

    engine = create_async_engine(
        "postgresql+asyncpg://",
        async_creator=creator,
        json_serializer=_json_text,
        json_deserializer=orjson.loads,
        **pool,
    )
    event.listen(engine.sync_engine, "handle_error", _classify_disconnects)
    return engine


def _app_engine(
    url: str | Callable[[], str], settings: Settings, command_timeout: float, **options: Any
) -> AsyncEngine:
    return create_engine(
        url,
        application_name="trackr-api",
        connect_timeout=settings.db_connect_timeout_seconds,
        command_timeout=command_timeout,
        statement_timeout_ms=settings.db_statement_timeout_ms,
        tcp_user_timeout=settings.db_tcp_user_timeout_seconds,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_recycle=settings.db_pool_recycle_seconds,
        pool_timeout=settings.db_connect_timeout_seconds * 2,
        **options,
    )


def replica_engine(url: str, settings: Settings) -> AsyncEngine:
    # Replica reads skip the ping round trip: a read on a dropped connection is retried.
    return _app_engine(
        url, settings, settings.replica_read_timeout_seconds, isolation_level="AUTOCOMMIT"
    )


def primary_engine(url: str | Callable[[], str], settings: Settings) -> AsyncEngine:
    # Writes cannot be retried blindly, so a dead pooled connection is caught before use:
    # `write_transaction` pings it within the write's deadline. Every statement has a
    # client-side deadline too.
    timeout = settings.db_write_timeout_seconds
    return _app_engine(url, settings, timeout)


def build_engines(
    settings: Settings, replicas: dict[str, str], primary_url: Callable[[], str] | None = None
) -> Engines:
    return Engines(
        primary=primary_engine(primary_url or settings.database_url, settings),
        replicas={name: replica_engine(url, settings) for name, url in replicas.items()},
    )
