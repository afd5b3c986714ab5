"""CORS for browser frontends on other origins (Starlette's middleware, plain ASGI).

Preflights are answered here, before the fast path and the router, so they never touch the
database; every other response, errors included, carries the headers a browser needs to read
it (the failover client reads 503s and `X-Consistency-Token` across origins).
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from app.config import Settings
from app.errors import BadRequest
from app.problems import render

ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "X-Consistency-Token",
    "If-Match",
    "If-None-Match",
    "X-Request-ID",
)
EXPOSED_HEADERS = (
    "X-Consistency-Token",
    "X-Served-By",
    "X-Cache",
    "Idempotent-Replayed",
    "ETag",
    "Location",
    "Retry-After",
    "RateLimit-Policy",
    "RateLimit",
    "X-Request-ID",
)
METHODS = ("GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS")
# Development with no CORS_ALLOW_ORIGINS: any local frontend (any port) may call the API.
LOCAL_ORIGINS = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?$"


class ProblemCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with a refused preflight told as problem+json like every error."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        detail = bytes(response.body).decode() + " (see CORS_ALLOW_ORIGINS and the API docs)"
        problem = render(BadRequest(detail))
        problem.headers.update(
            {k: v for k, v in response.headers.items() if k.startswith("access-")}
        )
        return problem


def install_cors(app: FastAPI, settings: Settings) -> None:
    origins = settings.cors_origins
    local = settings.app_env == "development" and not origins
    if not origins and not local:
        return  # production default: no cross-origin access until origins are named
    app.add_middleware(
        ProblemCORSMiddleware,
        allow_origins=origins,
        allow_origin_regex=LOCAL_ORIGINS if local else None,
        allow_methods=METHODS,
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        allow_credentials=False,  # bearer tokens, no cookies: `*` stays safe
        max_age=settings.cors_max_age_seconds,
    )
