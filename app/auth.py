"""JWT bearer authentication for writes: signature, expiry, audience/issuer, OAuth 2.0 scopes."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from cachetools import TLRUCache
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.config import Settings
from app.errors import Forbidden, Unauthorized

WRITE_SCOPE = "products:write"
DATE_CLAIMS = ("exp", "iat", "nbf")  # RFC 7519: NumericDate, never a string
MAX_TOKEN_LENGTH = 8192
VERIFIED_TOKENS_KEPT = 4096

_bearer = HTTPBearer(auto_error=False, description="JWT with a space-separated `scope` claim")


@dataclass(frozen=True)
class Principal:
    subject: str | None
    scopes: frozenset[str]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _verification_key(settings: Settings) -> str:
    if settings.jwt_algorithm.startswith("HS"):
        if settings.jwt_secret is None:
            raise Unauthorized("this server has no JWT_SECRET configured; writes are disabled")
        return settings.jwt_secret.get_secret_value()
    if not settings.jwt_public_key:
        raise Unauthorized("this server has no JWT_PUBLIC_KEY configured; writes are disabled")
    return settings.jwt_public_key.replace("\\n", "\n")


def import_deferred() -> None:
    """PyJWT, imported after startup rather than before: with `cryptography` installed (for
    RS256 and ES256) it costs a process start ~30 ms, and no token is checked before the
    first write (app.main imports it a second after serving begins)."""
    import jwt  # noqa: F401


def _verify(token: str, settings: Settings) -> tuple[Principal, float]:
    """The token's principal and expiry, or Unauthorized saying what is wrong with it."""
    import jwt  # here, not at the top: see import_deferred

    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            _verification_key(settings),
            algorithms=[settings.jwt_algorithm],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp"], "verify_aud": settings.jwt_audience is not None},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the bearer token has expired") from None
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"the bearer token is invalid: {exc}") from None
    for name in DATE_CLAIMS:
        if name in claims and not _is_number(claims[name]):
            raise Unauthorized(f"the token's `{name}` claim must be a number (seconds since 1970)")
    scope = claims.get("scope", "")
    if not isinstance(scope, str):
        raise Unauthorized("the token's scope claim must be a space-separated string")
    principal = Principal(subject=claims.get("sub"), scopes=frozenset(scope.split()))
    return principal, float(claims["exp"])


class VerifiedTokens:
    """Bearer tokens checked against the settings, remembering those accepted until they
    expire.

    A client sends the same token with every write; checking its signature each time cost
    8% of a create's server time (docs/performance-notes.md, step 18). Only accepted tokens
    are kept: a refused one is checked again, and says why, every time. A kept token expires
    here exactly when PyJWT would call it expired (at `exp`, no leeway), and what makes a
    token acceptable (secret or key, algorithm, audience, issuer) is fixed for the
    process's life.
    """

    def __init__(self, settings: Settings, kept: int = VERIFIED_TOKENS_KEPT) -> None:
        self.settings = settings
        self._accepted: TLRUCache[str, tuple[Principal, float]] = TLRUCache(
            maxsize=kept, ttu=lambda _token, entry, _now: entry[1], timer=time.time
        )

    def principal(self, token: str) -> Principal:
        entry = self._accepted.get(token)
        if entry is None:
            entry = _verify(token, self.settings)
            self._accepted[token] = entry
        return entry[0]


def create_token(
    settings: Settings, scopes: list[str], ttl_seconds: int, subject: str = "trackr-cli"
) -> str:
    """Sign a token with JWT_SECRET (HS* only; asymmetric keys are signed by your issuer)."""
    if not settings.jwt_algorithm.startswith("HS") or settings.jwt_secret is None:
        raise ValueError("creating tokens needs JWT_SECRET and an HS* JWT_ALGORITHM")
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "scope": " ".join(scopes),
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    import jwt

    return jwt.encode(
        claims, settings.jwt_secret.get_secret_value(), algorithm=settings.jwt_algorithm
    )


def require_scope(scope: str) -> Callable[..., Awaitable[Principal]]:
    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Unauthorized("this operation needs an `Authorization: Bearer <JWT>` header")
        if len(credentials.credentials) > MAX_TOKEN_LENGTH:
            raise Unauthorized(f"the bearer token is longer than {MAX_TOKEN_LENGTH} characters")
        tokens: VerifiedTokens = request.app.state.tokens
        principal = tokens.principal(credentials.credentials)
        if scope not in principal.scopes:
            raise Forbidden(f"the token lacks the `{scope}` scope")
        request.state.principal = principal
        return principal

    return dependency


WriterDep = Annotated[Principal, Depends(require_scope(WRITE_SCOPE))]
