"""SQL for the single-row routing_overrides table."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import RoutingOverride

overrides = cast(Table, RoutingOverride.__table__)


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
