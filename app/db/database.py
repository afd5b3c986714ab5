"""The per-process database handle: engines plus the replica monitor, built in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.db.engines import Engines, build_engines, replica_engine
from app.db.positions import SharedPositionReads
from app.db.replicas import ReplicaPool


@dataclass
class Database:
    engines: Engines
    pool: ReplicaPool
    positions: SharedPositionReads = field(default_factory=SharedPositionReads)

    @classmethod
    def for_pool(cls, pool: ReplicaPool) -> Database:
        """Engines for the pool's primary and replicas, and for any replica it discovers."""
        settings = pool.settings
        replicas = {r.name: r.dsn for r in pool.replicas.values()}
        # New writer connections go where the pool says the writer is (Patroni's leader).
        engines = build_engines(settings, replicas, primary_url=lambda: pool.primary.dsn)

        def add_engine(name: str, dsn: str) -> None:  # a replica Patroni reported
            engines.replicas.setdefault(name, replica_engine(dsn, settings))

        async def leader_changed() -> None:
            # A new pool: connections to the old leader are dropped, never closed politely
            # (a hung one would not answer); requests still on them end at their deadline.
            await engines.primary.dispose(close=False)

        pool.on_new_replica = add_engine
        pool.on_leader_change = leader_changed
        return cls(engines=engines, pool=pool)

    async def start(self) -> None:
        await self.pool.start()

    async def stop(self) -> None:
        await self.pool.stop()
        await self.engines.dispose()
