"""SQL for the single-row routing_overrides table."""

from __future__ import annotations

import asyncpg

from app.db.session import WriteSession
from app.db.tables import ROUTING_OVERRIDES

CURRENT = f"SELECT read_balancing, drained FROM {ROUTING_OVERRIDES} WHERE id = 1"
SAVE = (
    f"INSERT INTO {ROUTING_OVERRIDES} (id, read_balancing, drained, updated_by) "
    "VALUES (1, $1, $2, $3) ON CONFLICT (id) DO UPDATE SET "
    "read_balancing = excluded.read_balancing, drained = excluded.drained, "
    "updated_by = excluded.updated_by, updated_at = now()"
)


async def read_current(
    connection: asyncpg.Connection, timeout_seconds: float
) -> tuple[str | None, list[str]]:
    """The stored overrides on a plain driver connection (the replica monitor's, each round)."""
    row = await connection.fetchrow(CURRENT, timeout=timeout_seconds)
    return (row["read_balancing"], list(row["drained"])) if row else (None, [])


async def load_for_update(session: WriteSession) -> tuple[str | None, list[str]]:
    row = await session.fetchrow(CURRENT + " FOR UPDATE")
    return (row["read_balancing"], list(row["drained"])) if row else (None, [])


async def save(
    session: WriteSession, read_balancing: str | None, drained: list[str], by: str | None
) -> None:
    await session.execute(SAVE, read_balancing, drained, by)
