"""Redis as a helper, never a dependency: every call has a deadline, and a breaker stops
calling a Redis that failed, for a cool-down, while the caller falls back to its memory.

redis-py reconnects by itself on the next call after a dropped connection, so recovery
needs no step of ours: the breaker's half-open trial is that next call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from prometheus_client import Counter, Gauge

from app.db.breaker import BreakerState, CircuitBreaker

log = logging.getLogger("trackr.redis")
T = TypeVar("T")

REDIS_UP = Gauge(
    "trackr_redis_up",
    "1 while this helper uses Redis, 0 while it falls back to memory",
    ["use"],
    multiprocess_mode="livemostrecent",
)
REDIS_FALLBACKS = Counter(
    "trackr_redis_fallbacks_total",
    "Calls answered from memory because Redis failed, was slow or its breaker was open",
    ["use"],
)


class RedisUnavailable(Exception):
    """Redis was not asked (breaker open) or did not answer in time: use the memory tier."""


class RedisGuard:
    def __init__(
        self, use: str, timeout_seconds: float, cooldown_seconds: float, *, configured: bool
    ) -> None:
        self.use = use
        self.timeout_seconds = timeout_seconds
        self.breaker = CircuitBreaker(cooldown_seconds)
        self.fallbacks = 0
        self.configured = configured
        if configured:  # no series at all for a Redis that is not there
            REDIS_UP.labels(use=use).set(1)

    @property
    def up(self) -> bool:
        return self.breaker.state is BreakerState.CLOSED

    @property
    def status(self) -> Literal["up", "down", "not configured"]:
        """As /health reports it."""
        if not self.configured:
            return "not configured"
        return "up" if self.up else "down"

    @property
    def error(self) -> str | None:
        """Why Redis is down, while it is."""
        return self.breaker.last_error if self.status == "down" else None

    async def call(self, work: Callable[[], Awaitable[T]]) -> T:
        """`work()` within the deadline, or RedisUnavailable. Any failure of Redis (refused,
        reset, timed out, an error reply) opens the breaker."""
        if not self.breaker.allow():
            self._fell_back()
            raise RedisUnavailable(self.breaker.last_error or "redis is failing")
        outcome: str | None = None
        try:
            async with asyncio.timeout(self.timeout_seconds):
                result = await work()
            outcome = "ok"
            return result
        except Exception as exc:  # the client library's errors, OSError, TimeoutError
            outcome = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
            raise RedisUnavailable(outcome) from exc
        finally:
            # Recorded whatever ended the call, a cancellation included: a half-open trial
            # that recorded nothing would keep the breaker from ever closing.
            self._record(outcome or "cancelled")

    def _record(self, outcome: str) -> None:
        was_up = self.up
        if outcome == "ok":
            self.breaker.record_success()
            if not was_up:
                log.warning("redis (%s) answers again: shared state resumes", self.use)
        else:
            self.breaker.record_failure(outcome)
            self._fell_back()
            if was_up:
                log.warning("redis (%s) failed, memory fallback: %s", self.use, outcome)
        REDIS_UP.labels(use=self.use).set(1 if self.up else 0)

    def _fell_back(self) -> None:
        self.fallbacks += 1
        REDIS_FALLBACKS.labels(use=self.use).inc()
