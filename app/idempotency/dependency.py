"""The FastAPI side of idempotent writes: the `Idempotency-Key` header, the caller's
identity as the key's owner, and Starlette responses in and out of storage."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from starlette.responses import Response

from app.auth import Principal
from app.dependencies import WriteSessionDep
from app.idempotency.service import IDEMPOTENCY_HEADER, IdempotentWrite, StoredResponse

KEY_MAX_LENGTH = 255
KEY_PATTERN = r"^[\x21-\x7e]+$"  # printable ASCII, no spaces
KeyHeader = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_HEADER,
        min_length=1,
        max_length=KEY_MAX_LENGTH,
        pattern=KEY_PATTERN,
        description="Any unique string (a UUID): a retry with the same key and request returns "
        "the first response instead of writing again. Kept for 24 hours.",
    ),
]


@dataclass
class Idempotency:
    write: IdempotentWrite

    async def replay(
        self, request: Request, payload: Callable[[], Any] = lambda: None
    ) -> Response | None:
        """The first response to this key, for a retry; None when this write is the first (or
        carries no key). `payload` gives what the key's fingerprint covers besides the method
        and the path; it is only called for a keyed write."""
        if self.write.key is None:
            return None
        stored = await self.write.replay(request.method, request.url.path, payload())
        if stored is None:
            return None
        return Response(stored.body, stored.status, headers=stored.headers, media_type=None)

    async def remember(self, response: Response) -> Response:
        if self.write.key is None:
            return response
        headers = dict(response.headers.items())
        await self.write.remember(
            StoredResponse(response.status_code, bytes(response.body), headers)
        )
        return response


async def idempotency(
    request: Request, session: WriteSessionDep, key: KeyHeader = None
) -> Idempotency:
    principal: Principal | None = getattr(request.state, "principal", None)
    # A token's subject, as stored since keys were introduced; tokens without one share the
    # empty owner, which no subject can be (an empty `sub` counts as none).
    owner = (principal.subject if principal else None) or ""
    ttl = request.app.state.settings.idempotency_ttl_seconds
    return Idempotency(IdempotentWrite(session, owner, key, ttl))


IdempotencyDep = Annotated[Idempotency, Depends(idempotency)]
