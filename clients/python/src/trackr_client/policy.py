"""Failover policy shared by the sync and async clients: order, breakers, what is retried.

- Backends are tried in priority order. One whose breaker is open (it failed recently) is
  skipped during its cool-down, then probed by a single request; if every breaker is open,
  all are tried anyway, since refusing to try is never better than trying.
- A request that never reached a backend (refused, connect timeout) moves on, always.
- A request that may have been processed (read timeout, dropped connection, 5xx) moves on only
  when repeating it is safe: reads, DELETE, and writes that carry an `Idempotency-Key` (the
  client adds one to every write unless told otherwise).
- A write refused because the cluster has no writer (503 `/problems/primary-unavailable`)
  moves on but does not count against the backend: during a failover every site answers
  the same, and that backend still serves reads. Any other 5xx does count (a site cut off
  from the others says `/problems/site-cut-off`: its clients should leave it).
- 4xx answers are the caller's problem: raised as `ApiError`, never retried.
- The freshest `X-Consistency-Token` seen on a write is sent with later reads, on any backend.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, TypedDict

import httpx

from trackr_client.breaker import BackendBreaker
from trackr_client.consistency import newest
from trackr_client.errors import AllBackendsUnavailable, ApiError

CONSISTENCY_HEADER = "X-Consistency-Token"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "PUT"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UNAVAILABLE_STATUSES = frozenset({500, 502, 503, 504})
NO_WRITER = "/problems/primary-unavailable"
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass
class Backend:
    url: str
    breaker: BackendBreaker

    @property
    def name(self) -> str:
        return self.url


@dataclass(frozen=True)
class Call:
    """One API request, independent of the transport that sends it."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def retry_safe(self) -> bool:
        return self.method in SAFE_METHODS or IDEMPOTENCY_HEADER in self.headers


@dataclass(frozen=True)
class Failure:
    description: str
    moves_on: bool  # False: the request may have been applied and is not safe to repeat


class Attempts:
    """Each backend's failure for one request, and when to give up."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def record(self, backend: Backend, failure: Failure) -> None:
        unsafe = "" if failure.moves_on else " (may have been applied; not repeated elsewhere)"
        self.errors[backend.name] = failure.description + unsafe
        if not failure.moves_on:
            raise self.exhausted()

    def exhausted(self) -> AllBackendsUnavailable:
        return AllBackendsUnavailable(dict(self.errors))


class ClientOptions(TypedDict, total=False):
    """Options both clients take (`AsyncTrackrClient` adds `hedge_after`)."""

    token: str | None  # a JWT for writes
    timeout: float  # read/write timeout per attempt, seconds (default 5)
    connect_timeout: float  # seconds (default 0.5)
    cooldown_seconds: float  # how long a failed backend is skipped (default 30)
    auto_idempotency: bool  # add an Idempotency-Key to every write (default True)
    tracer_provider: Any  # an OpenTelemetry TracerProvider (default the global one)


def http_options(options: ClientOptions) -> dict[str, Any]:
    """httpx client settings for these options."""
    token = options.get("token")
    timeout = options.get("timeout", 5.0)
    return {
        "timeout": httpx.Timeout(timeout, connect=options.get("connect_timeout", 0.5)),
        "headers": {"Authorization": f"Bearer {token}"} if token else {},
    }


class FailoverPolicy:
    def __init__(
        self, base_urls: list[str], cooldown_seconds: float, auto_idempotency: bool = True
    ) -> None:
        if not base_urls:
            raise ValueError("give at least one backend URL")
        self.auto_idempotency = auto_idempotency
        self.backends = [
            Backend(url.rstrip("/"), BackendBreaker(cooldown_seconds)) for url in base_urls
        ]
        self._token: str | None = None

    def candidates(self) -> Iterator[Backend]:
        allowed = [b for b in self.backends if b.breaker.allow()]
        yield from allowed or self.backends

    def prepare(self, call: Call) -> Call:
        """The call as sent to every backend: the freshest consistency token on reads, and
        one `Idempotency-Key` for all attempts of a write (unless turned off or given)."""
        headers = dict(call.headers)
        if call.method == "GET" and self._token is not None:
            headers.setdefault(CONSISTENCY_HEADER, self._token)
        if call.method in WRITE_METHODS and self.auto_idempotency:
            headers.setdefault(IDEMPOTENCY_HEADER, str(uuid.uuid4()))
        return replace(call, headers=headers)

    def judge(
        self, backend: Backend, call: Call, outcome: httpx.Response | Exception
    ) -> httpx.Response | Failure:
        """The response to return, a `Failure` to record, or `ApiError` (raised)."""
        if isinstance(outcome, Exception):
            backend.breaker.record_failure(type(outcome).__name__)
            moves_on = isinstance(outcome, NOT_SENT) or call.retry_safe
            return Failure(f"{type(outcome).__name__}: {outcome}".rstrip(": "), moves_on)
        response = outcome
        if response.status_code in UNAVAILABLE_STATUSES:
            no_writer = call.method in WRITE_METHODS and _problem_type(response) == NO_WRITER
            if not no_writer:
                backend.breaker.record_failure(f"HTTP {response.status_code}")
            return Failure(f"HTTP {response.status_code}", call.retry_safe)
        backend.breaker.record_success()
        if response.status_code >= 400:
            raise ApiError(response.status_code, _problem(response), backend.name)
        self._token = newest(self._token, response.headers.get(CONSISTENCY_HEADER))
        return response

    @property
    def consistency_token(self) -> str | None:
        return self._token


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"title": response.reason_phrase, "detail": response.text[:200]}
    return body if isinstance(body, dict) else {"detail": str(body)}


def _problem_type(response: httpx.Response) -> str | None:
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return None
    kind = _problem(response).get("type")
    return kind if isinstance(kind, str) else None


def keyed(idempotency_key: str | None) -> dict[str, str]:
    return {IDEMPOTENCY_HEADER: idempotency_key} if idempotency_key else {}
