"""SQL for the idempotency_keys table, in the write's own transaction."""

from __future__ import annotations

import orjson
from asyncpg import Record
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.session import WriteSession

CLAIM = (
    "INSERT INTO idempotency_keys (owner, key, fingerprint) VALUES ($1, $2, $3) "
    "ON CONFLICT (owner, key) DO NOTHING RETURNING 1"
)
EXISTING = (
    "SELECT fingerprint, status_code, response_body, response_headers, "
    "created_at < now() - make_interval(secs => $3) AS expired "
    "FROM idempotency_keys WHERE owner = $1 AND key = $2 FOR UPDATE"
)
RECLAIM = (
    "UPDATE idempotency_keys SET fingerprint = $3, status_code = NULL, "
    "response_body = NULL, response_headers = NULL, created_at = now() "
    "WHERE owner = $1 AND key = $2"
)
REMEMBER = (
    "UPDATE idempotency_keys SET status_code = $3, response_body = $4, "
    "response_headers = $5::jsonb WHERE owner = $1 AND key = $2"
)
PURGE = text("DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => :ttl)")


async def claim(session: WriteSession, owner: str, key: str, fingerprint: str) -> bool:
    """Claim the key for this write; False when it is already taken (waits for a running one)."""
    return await session.fetchval(CLAIM, owner, key, fingerprint) is not None


async def existing(session: WriteSession, owner: str, key: str, ttl_seconds: int) -> Record:
    """The taken key's row, locked: fingerprint, stored response, and whether it expired."""
    row = await session.fetchrow(EXISTING, owner, key, float(ttl_seconds))
    assert row is not None  # claimed by another write, and rows are deleted only when expired
    return row


async def reclaim(session: WriteSession, owner: str, key: str, fingerprint: str) -> None:
    await session.execute(RECLAIM, owner, key, fingerprint)


async def remember(
    session: WriteSession,
    owner: str,
    key: str,
    status: int,
    body: bytes,
    headers: dict[str, str],
) -> None:
    await session.execute(REMEMBER, owner, key, status, body, orjson.dumps(headers).decode())


async def purge_expired(engine: AsyncEngine, ttl_seconds: int) -> int:
    async with engine.begin() as connection:
        result = await connection.execute(PURGE, {"ttl": ttl_seconds})
    return int(getattr(result, "rowcount", 0) or 0)
