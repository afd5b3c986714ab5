"""The per-process database handle: engines plus the replica monitor, built in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from app.config import Settings
from app.db.engines import Engines, build_engines
from app.db.replicas import ReplicaPool


@dataclass
class Database:
    engines: Engines
    pool: ReplicaPool

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(engines=build_engines(settings), pool=ReplicaPool.from_settings(settings))

    async def start(self) -> None:
        await self.pool.start()

    async def stop(self) -> None:
        await self.pool.stop()
        await self.engines.dispose()
