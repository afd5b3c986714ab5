"""`Idempotency-Key` on writes: a retried write returns the first response, never a duplicate.

The key is claimed with an INSERT in the write's own transaction, and the response is stored
by the same transaction before it commits, so key, write and response are one atomic unit:
- first request: the claim succeeds, the write runs, its response is stored, all commit;
- a retry with the same key and the same request: the stored response is replayed
  (`Idempotent-Replayed: true`), nothing is written again;
- the same key with a different request: 422;
- two identical requests at once: the second waits on the first's claim (the unique index),
  then replays its response; if the first rolled back, the second runs the write itself.
Keys are scoped to the token's subject and expire after `IDEMPOTENCY_TTL_SECONDS` (24 h).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field
from typing import Annotated, Any

import orjson
from fastapi import Depends, Header, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import Response

from app.auth import Principal
from app.db.session import WriteSession, WriteSessionDep
from app.errors import IdempotencyKeyInUse, IdempotencyKeyReused

log = logging.getLogger("trackr.idempotency")

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
STORED_HEADERS = ("content-type", "etag", "location")

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

KeyHeader = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_HEADER,
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Any unique string (a UUID): a retry with the same key and request returns "
        "the first response instead of writing again. Kept for 24 hours.",
    ),
]


@dataclass
class Idempotency:
    session: WriteSession
    owner: str
    key: str | None
    ttl_seconds: int
    _claimed: bool = field(default=False, init=False)

    def _identity(self) -> dict[str, Any]:
        return {"owner": self.owner, "key": self.key}

    async def replay(self, request: Request, payload: Any = None) -> Response | None:
        """The stored response for a retry, or None after claiming the key for this write."""
        if self.key is None:
            return None
        fingerprint = _fingerprint(request, payload)
        ids = {**self._identity(), "fingerprint": fingerprint}
        if (await self.session.execute(CLAIM, ids)).first() is not None:
            self._claimed = True
            return None
        row = (
            await self.session.execute(EXISTING, {**self._identity(), "ttl": self.ttl_seconds})
        ).one()
        if row.expired:
            await self.session.execute(RECLAIM, ids)
            self._claimed = True
            return None
        if row.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                f"the {IDEMPOTENCY_HEADER} {self.key!r} was used for a different request; "
                "use a new key for a new request"
            )
        if row.status_code is None:  # claims commit with a response; this is defensive
            raise IdempotencyKeyInUse(
                f"a request with {IDEMPOTENCY_HEADER} {self.key!r} is running"
            )
        headers = {**(row.response_headers or {}), REPLAYED_HEADER: "true"}
        return Response(
            row.response_body,
            status_code=row.status_code,
            headers=headers,
            media_type=None,
        )

    async def remember(self, response: Response) -> Response:
        """Store the response with the claim (same transaction) and return it."""
        if self._claimed:
            headers = {
                name: value for name, value in response.headers.items() if name in STORED_HEADERS
            }
            await self.session.execute(
                REMEMBER,
                {
                    **self._identity(),
                    "status": response.status_code,
                    "body": bytes(response.body),
                    "headers": orjson.dumps(headers).decode(),
                },
            )
        return response


def _fingerprint(request: Request, payload: Any) -> str:
    canonical = orjson.dumps(
        [request.method, request.url.path, payload],
        option=orjson.OPT_SORT_KEYS,
        default=str,
    )
    return hashlib.sha256(canonical).hexdigest()


async def idempotency(
    request: Request, session: WriteSessionDep, key: KeyHeader = None
) -> Idempotency:
    principal: Principal | None = getattr(request.state, "principal", None)
    owner = (principal.subject if principal else None) or "anonymous"
    ttl = request.app.state.settings.idempotency_ttl_seconds
    return Idempotency(session=session, owner=owner, key=key, ttl_seconds=ttl)


IdempotencyDep = Annotated[Idempotency, Depends(idempotency)]


async def purge_expired(engine: AsyncEngine, ttl_seconds: int) -> int:
    async with engine.begin() as connection:
        result = await connection.execute(PURGE, {"ttl": ttl_seconds})
    return int(getattr(result, "rowcount", 0) or 0)


async def purge_forever(engine: AsyncEngine, ttl_seconds: int, interval_seconds: float) -> None:
    """Delete expired keys now and then; a failure (primary down) waits for the next round."""
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            purged = await purge_expired(engine, ttl_seconds)
        except Exception as exc:  # the primary may be away: try again next round
            log.info("idempotency purge skipped: %s", exc.__class__.__name__)
        else:
            if purged:
                log.info("purged %d expired idempotency keys", purged)
