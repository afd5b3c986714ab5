"""SQL for the single-row routing_overrides table."""

from __future__ import annotations

from typing import cast

import asyncpg
from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import RoutingOverride

overrides = cast(Table, RoutingOverride.__table__)
CURRENT = f"SELECT read_balancing, drained FROM {overrides.name} WHERE id = 1"


async def read_current(
    connection: asyncpg.Connection, timeout_seconds: float
) -> tuple[str | None, list[str]]:
    """The stored overrides on a plain driver connection (the replica monitor's, each round)."""
    row = await connection.fetchrow(CURRENT, timeout=timeout_seconds)
    return (row["read_balancing"], list(row["drained"])) if row else (None, [])


async def load_for_update(session: AsyncSession) -> tuple[str | None, list[str]]:
    row = (
        await session.execute(
            select(overrides.c.read_balancing, overrides.c.drained)
            .where(overrides.c.id == 1)
            .with_for_update()
        )
    ).first()
    return (row[0], list(row[1])) if row else (None, [])


async def save(
    session: AsyncSession, read_balancing: str | None, drained: list[str], by: str | None
) -> None:
    values = {"read_balancing": read_balancing, "drained": drained, "updated_by": by}
    stmt = insert(overrides).values(id=1, **values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[overrides.c.id], set_={**values, "updated_at": stmt.excluded.updated_at}
    )
    await session.execute(stmt)
