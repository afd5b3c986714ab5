"""Every check and incident, in SQLite (a file, the default) or PostgreSQL.

The monitor's store is its own small database, not trackr's: its two tables are created on
start (`create_all`), so a monitor needs no migration step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    case,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.monitor.probe import Check

metadata = MetaData()

checks = Table(
    "monitor_checks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("backend", String(40), nullable=False),
    Column("checked_at", Float, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("latency_ms", Float),
    Column("http_status", Integer),
    Column("error", Text),
    Column("health", String(16)),
    Column("replica_lag_seconds", Float),
    Column("replica_lag_bytes", BigInteger),
    Column("schema_revision", String(64)),
    Column("counts", JSON),
    Column("last_updated_at", Float),
    Column("data_changed", Boolean, nullable=False, default=False),
    Index("ix_monitor_checks_backend_checked_at", "backend", "checked_at"),
)

incidents = Table(
    "monitor_incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject", String(40), nullable=False),  # a backend's name, or "drift"
    Column("kind", String(16), nullable=False),  # down | degraded | drift
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("detail", Text, nullable=False),
    Index("ix_monitor_incidents_started_at", "started_at"),
)

# What a check keeps in the store. The backups' state is shown as the latest probe saw it and
# not kept: it is the backends' own record (`backup_events`), read again at the next check.
NOT_STORED = {"backups"}
CHECK_FIELDS = [f.name for f in fields(Check) if f.name not in NOT_STORED]


@dataclass(frozen=True)
class Incident:
    id: int
    subject: str
    kind: str
    started_at: float
    ended_at: float | None
    detail: str


@dataclass(frozen=True)
class Point:
    at: float
    ok: bool
    latency_ms: float | None
    health: str | None


class Store:
    def __init__(self, database_url: str) -> None:
        self.engine: AsyncEngine = create_async_engine(database_url)

    async def open(self) -> None:
        database = self.engine.url.database
        if self.engine.url.get_backend_name() == "sqlite" and database:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def close(self) -> None:
        await self.engine.dispose()

    async def add_check(self, check: Check, data_changed: bool) -> None:
        async with self.engine.begin() as conn:
            stored = {k: v for k, v in asdict(check).items() if k not in NOT_STORED}
            await conn.execute(insert(checks).values(**stored, data_changed=data_changed))

    async def latest_checks(self) -> dict[str, Check]:
        newest = (
            select(checks.c.backend, func.max(checks.c.id).label("id"))
            .group_by(checks.c.backend)
            .subquery()
        )
        query = select(*(checks.c[name] for name in CHECK_FIELDS)).join(
            newest, checks.c.id == newest.c.id
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return {row["backend"]: Check(**row) for row in rows}

    async def history(self, backend: str, since: float, limit: int) -> list[Point]:
        query = (
            select(checks.c.checked_at, checks.c.ok, checks.c.latency_ms, checks.c.health)
            .where(checks.c.backend == backend, checks.c.checked_at >= since)
            .order_by(checks.c.id.desc())
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [Point(*row) for row in reversed(rows)]

    async def uptime(self, backend: str, since: float) -> tuple[float | None, float | None]:
        """The shares of checks since `since` that the backend answered (degraded or not) and
        that found it fully healthy (None: no checks yet)."""
        healthy = and_(checks.c.ok, func.coalesce(checks.c.health, "") != "degraded")
        query = select(
            func.avg(case((checks.c.ok, 1.0), else_=0.0)),
            func.avg(case((healthy, 1.0), else_=0.0)),
        ).where(checks.c.backend == backend, checks.c.checked_at >= since)
        async with self.engine.connect() as conn:
            available, fully = (await conn.execute(query)).one()
        return _share(available), _share(fully)

    async def last_data_change(self, backend: str) -> float | None:
        """When the monitor last saw this backend's counts change (creates and deletes)."""
        query = select(func.max(checks.c.checked_at)).where(
            checks.c.backend == backend, checks.c.data_changed
        )
        async with self.engine.connect() as conn:
            value = (await conn.execute(query)).scalar()
        return None if value is None else float(value)

    async def open_incident(self, subject: str, kind: str, at: float, detail: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(incidents).values(subject=subject, kind=kind, started_at=at, detail=detail)
            )

    async def close_incident(self, subject: str, kind: str, at: float) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(incidents)
                .where(
                    and_(
                        incidents.c.subject == subject,
                        incidents.c.kind == kind,
                        incidents.c.ended_at.is_(None),
                    )
                )
                .values(ended_at=at)
            )

    async def incidents(self, limit: int = 50, open_only: bool = False) -> list[Incident]:
        query = select(incidents).order_by(incidents.c.started_at.desc()).limit(limit)
        if open_only:
            query = query.where(incidents.c.ended_at.is_(None))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [Incident(**row) for row in rows]

    async def prune(self, before: float) -> int:
        """Forget checks older than `before` (incidents are kept)."""
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(checks).where(checks.c.checked_at < before))
        return int(result.rowcount or 0)


def _share(value: float | None) -> float | None:
    return None if value is None else float(value)
