"""The per-process database handle: engines plus the replica monitor, built in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from app.config import Settings
from app.db.engines import Engines, build_engines
from app.db.replicas import ReplicaPool
from app.db.urls import sync_dsn


@dataclass
class Database:
    engines: Engines
    pool: ReplicaPool

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        pool = ReplicaPool(
            settings,
            primary_dsn=sync_dsn(settings.database_url),
            replica_dsns={r.name: sync_dsn(r.url) for r in settings.replicas},
        )
        return cls(engines=build_engines(settings), pool=pool)

    async def start(self) -> None:
        await self.pool.start()

    async def stop(self) -> None:
        await self.pool.stop()
        await self.engines.dispose()
