"""The limit in front of the API: reads (GET, HEAD) and writes count separately, per token
subject when the request carries a valid bearer token, else per client address (the one
uvicorn resolved through FORWARDED_ALLOW_IPS; a raw X-Forwarded-For is never read).

Health, metrics and CORS preflights are never limited: the CORS middleware, outside this
one, answers preflights itself. Every limited response carries `RateLimit-Policy` and
`RateLimit` (draft-ietf-httpapi-ratelimit-headers); a refusal is a 429 problem with
`Retry-After`.
"""

from __future__ import annotations

import hashlib

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth import MAX_TOKEN_LENGTH, VerifiedTokens
from app.errors import AppError, RateLimited
from app.middleware import route_path
from app.problems import render
from app.ratelimit.limiter import Policy, RateLimiter, Verdict

NEVER_LIMITED = ("/health", "/metrics")
READS = frozenset({"GET", "HEAD"})
MAX_KEY_PART = 128  # a longer subject is hashed: keys stay short in Redis


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limiter: RateLimiter, tokens: VerifiedTokens) -> None:
        self.app = app
        self.limiter = limiter
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _exempt(scope) or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        policy = self.limiter.reads if scope["method"] in READS else self.limiter.writes
        verdict = await self.limiter.hit(policy, self._client_key(scope))
        fields = {
            "RateLimit-Policy": policy.policy_header(),
            "RateLimit": verdict.header(policy),
        }
        if not verdict.allowed:
            await self._refuse(scope, receive, send, policy, verdict, fields)
            return

        async def send_with_fields(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in fields.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_fields)

    def _client_key(self, scope: Scope) -> str:
        subject = self._subject(scope)
        if subject is not None:
            return "sub:" + _short(subject)
        client = scope.get("client")
        return "addr:" + (client[0] if client else "unknown")

    def _subject(self, scope: Scope) -> str | None:
        authorization = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        if authorization is None or len(authorization) > MAX_TOKEN_LENGTH + 7:
            return None
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            return self.tokens.principal(token.strip()).subject
        except AppError:  # invalid or expired: counted by address; the route says why
            return None

    async def _refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        policy: Policy,
        verdict: Verdict,
        fields: dict[str, str],
    ) -> None:
        wait = max(1, verdict.reset_seconds)
        where = "across the API nodes" if verdict.shared else "on this API node"
        error = RateLimited(
            f"more than {policy.item.amount} {policy.name} per {policy.window_seconds} s "
            f"from this client {where}; retry after {wait} s",
            headers={**fields, "Retry-After": str(wait)},
        )
        await render(error, instance=scope["path"])(scope, receive, send)


def _exempt(scope: Scope) -> bool:
    path = route_path(scope)
    return any(path == p or path.startswith(p + "/") for p in NEVER_LIMITED)


def _short(part: str) -> str:
    if len(part) <= MAX_KEY_PART:
        return part
    return hashlib.blake2b(part.encode(), digest_size=16).hexdigest()
