"""The rules of an idempotent write: claim, replay, refuse a reused key, purge."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.session import WriteSession
from app.errors import IdempotencyKeyInUse, IdempotencyKeyReused
from app.idempotency import repository

log = logging.getLogger("trackr.idempotency")

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Response headers kept with the stored response (lower case, as HTTP sends them).
STORED_HEADERS = ("content-type", "etag", "location")


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: bytes
    headers: dict[str, str]


def fingerprint(method: str, path: str, payload: Any) -> str:
    """What identifies a request: its method, path and (validated, JSON-ready) payload."""
    canonical = orjson.dumps([method, path, payload], option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(canonical).hexdigest()


@dataclass
class IdempotentWrite:
    session: WriteSession
    owner: str
    key: str | None
    ttl_seconds: int
    _claimed: bool = field(default=False, init=False)

    async def replay(self, method: str, path: str, payload: Any = None) -> StoredResponse | None:
        """The stored response for a retry, or None after claiming the key for this write."""
        if self.key is None:
            return None
        identity = fingerprint(method, path, payload)
        if await repository.claim(self.session, self.owner, self.key, identity):
            self._claimed = True
            return None
        row = await repository.existing(self.session, self.owner, self.key, self.ttl_seconds)
        if row["expired"]:
            await repository.reclaim(self.session, self.owner, self.key, identity)
            self._claimed = True
            return None
        if row["fingerprint"] != identity:
            raise IdempotencyKeyReused(
                f"the {IDEMPOTENCY_HEADER} {self.key!r} was used for a different request; "
                "use a new key for a new request"
            )
        if row["status_code"] is None:  # claims commit with a response; this is defensive
            raise IdempotencyKeyInUse(
                f"a request with {IDEMPOTENCY_HEADER} {self.key!r} is running"
            )
        headers = {**(row["response_headers"] or {}), REPLAYED_HEADER: "true"}
        return StoredResponse(row["status_code"], row["response_body"], headers)

    async def remember(self, response: StoredResponse) -> None:
        """Store the response with the claim (same transaction)."""
        if self._claimed and self.key is not None:
            kept = {k: v for k, v in response.headers.items() if k in STORED_HEADERS}
            await repository.remember(
                self.session, self.owner, self.key, response.status, response.body, kept
            )


async def purge_forever(engine: AsyncEngine, ttl_seconds: int, interval_seconds: float) -> None:
    """Delete expired keys now and then; a failure (primary down) waits for the next round."""
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            purged = await repository.purge_expired(engine, ttl_seconds)
        except Exception as exc:  # the primary may be away: try again next round
            log.info("idempotency purge skipped: %s", exc.__class__.__name__)
        else:
            if purged:
                log.info("purged %d expired idempotency keys", purged)
