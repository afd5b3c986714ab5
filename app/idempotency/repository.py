"""SQL for the idempotency_keys table, in the write's own transaction."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.session import WriteSession

CLAIM = text(
    "INSERT INTO idempotency_keys (owner, key, fingerprint) VALUES (:owner, :key, :fingerprint) "
    "ON CONFLICT (owner, key) DO NOTHING RETURNING 1"
)
EXISTING = text(
    "SELECT fingerprint, status_code, response_body, response_headers, "
    "created_at < now() - make_interval(secs => :ttl) AS expired "
    "FROM idempotency_keys WHERE owner = :owner AND key = :key FOR UPDATE"
)
RECLAIM = text(
    "UPDATE idempotency_keys SET fingerprint = :fingerprint, status_code = NULL, "
    "response_body = NULL, response_headers = NULL, created_at = now() "
    "WHERE owner = :owner AND key = :key"
)
REMEMBER = text(
    "UPDATE idempotency_keys SET status_code = :status, response_body = :body, "
    "response_headers = CAST(:headers AS jsonb) WHERE owner = :owner AND key = :key"
)
PURGE = text("DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => :ttl)")


async def claim(session: WriteSession, owner: str, key: str, fingerprint: str) -> bool:
    """Claim the key for this write; False when it is already taken (waits for a running one)."""
    ids = {"owner": owner, "key": key, "fingerprint": fingerprint}
    return (await session.execute(CLAIM, ids)).first() is not None


async def existing(session: WriteSession, owner: str, key: str, ttl_seconds: int) -> Row[Any]:
    """The taken key's row, locked: fingerprint, stored response, and whether it expired."""
    params = {"owner": owner, "key": key, "ttl": ttl_seconds}
    return (await session.execute(EXISTING, params)).one()


async def reclaim(session: WriteSession, owner: str, key: str, fingerprint: str) -> None:
    ids = {"owner": owner, "key": key, "fingerprint": fingerprint}
    await session.execute(RECLAIM, ids)


async def remember(
    session: WriteSession,
    owner: str,
    key: str,
    status: int,
    body: bytes,
    headers: dict[str, str],
) -> None:
    params = {"owner": owner, "key": key, "status": status, "body": body}
    await session.execute(REMEMBER, {**params, "headers": orjson.dumps(headers).decode()})


async def purge_expired(engine: AsyncEngine, ttl_seconds: int) -> int:
    async with engine.begin() as connection:
        result = await connection.execute(PURGE, {"ttl": ttl_seconds})
    return int(getattr(result, "rowcount", 0) or 0)
