"""What a backend's data looks like from outside: counts, newest change, schema revision."""

from __future__ import annotations

from datetime import datetime

from asyncpg import Record

from app.db.routing import ReadSession
from app.db.tables import PRODUCTS

PRODUCTS_BY_CATEGORY = (
    f"SELECT category, count(*) AS count, max(updated_at) AS last_updated_at "
    f"FROM {PRODUCTS} GROUP BY category"
)
SCHEMA_REVISION = "SELECT version_num FROM alembic_version LIMIT 1"


async def products_by_category(session: ReadSession) -> list[Record]:
    return await session.fetch(PRODUCTS_BY_CATEGORY)


async def schema_revision(session: ReadSession) -> str | None:
    revision: str | None = await session.fetchval(SCHEMA_REVISION)
    return revision


def newest(rows: list[Record]) -> datetime | None:
    stamps = [row["last_updated_at"] for row in rows if row["last_updated_at"] is not None]
    return max(stamps, default=None)
