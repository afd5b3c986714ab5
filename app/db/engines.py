"""Build and dispose the primary and replica engines."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.config import Settings
from app.db.urls import async_url


@dataclass
class Engines:
    primary: AsyncEngine
    replicas: dict[str, AsyncEngine] = field(default_factory=dict)

    async def dispose(self) -> None:
        for engine in (self.primary, *self.replicas.values()):
            await engine.dispose()


def _engine(url: str, settings: Settings, application_name: str) -> AsyncEngine:
    return create_async_engine(
        async_url(url),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=True,
        pool_recycle=settings.db_pool_recycle_seconds,
        pool_timeout=settings.db_connect_timeout_seconds * 2,
        connect_args={
            "timeout": settings.db_connect_timeout_seconds,
            "command_timeout": settings.db_statement_timeout_ms / 1000 or None,
            "server_settings": {
                "application_name": application_name,
                "statement_timeout": str(settings.db_statement_timeout_ms),
            },
        },
    )


def build_engines(settings: Settings) -> Engines:
    return Engines(
        primary=_engine(settings.database_url, settings, "trackr-api"),
        replicas={r.name: _engine(r.url, settings, "trackr-api") for r in settings.replicas},
    )
