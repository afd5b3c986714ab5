"""The AppError hierarchy: what went wrong, as data (status, problem type, detail, fields).

No web framework here: the data and domain layers raise these, and `app.problems` renders
them as RFC 9457 problem+json.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel


class FieldProblem(BaseModel):
    """One field-level problem; `pointer` (RFC 6901) for bodies, `parameter` for query/headers."""

    detail: str
    type: str
    pointer: str | None = None
    parameter: str | None = None


class AppError(Exception):
    status: int = 500
    slug: str = "internal-error"
    title: str = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[FieldProblem] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = list(errors or [])
        self.headers = dict(headers or {})

    @property
    def type_uri(self) -> str:
        return f"/problems/{self.slug}"


class BadRequest(AppError):
    status, slug, title = 400, "bad-request", "Bad request"


class MalformedJson(AppError):
    status, slug, title = 400, "malformed-json", "Malformed JSON body"


class InvalidConsistencyToken(AppError):
    status, slug, title = 400, "invalid-consistency-token", "Invalid consistency token"


class InvalidCursor(AppError):
    status, slug, title = 400, "invalid-cursor", "Invalid pagination cursor"


class Unauthorized(AppError):
    status, slug, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="trackr"'})


class Forbidden(AppError):
    status, slug, title = 403, "forbidden", "Insufficient scope"


class NotFound(AppError):
    status, slug, title = 404, "not-found", "Not found"


class PreconditionFailed(AppError):
    status, slug, title = 412, "precondition-failed", "Precondition failed"


class PayloadTooLarge(AppError):
    status, slug, title = 413, "payload-too-large", "Request body too large"


class ValidationProblem(AppError):
    status, slug, title = 422, "validation-error", "Request validation failed"


class IdempotencyKeyReused(AppError):
    status, slug, title = 422, "idempotency-key-reused", "Idempotency key reused"


class IdempotencyKeyInUse(AppError):
    status, slug, title = 409, "idempotency-key-in-use", "Idempotency key in use"


class ServiceUnavailable(AppError):
    status, slug, title = 503, "service-unavailable", "Service unavailable"

    def __init__(self, detail: str, retry_after_seconds: int = 1) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_seconds)})


class PrimaryUnavailable(ServiceUnavailable):
    """No writer: during a failover every API node of the cluster, at every site, says so."""

    slug, title = "primary-unavailable", "The primary database is unavailable"


class SiteCutOff(ServiceUnavailable):
    """This API node's site reaches too few database nodes: other sites serve, this one not."""

    slug, title = "site-cut-off", "This site is cut off from the other sites"


class RateLimited(AppError):
    status, slug, title = 429, "rate-limited", "Too many requests"
