"""Sliding-window counters (the `limits` library) in Redis, or in this process's memory while
Redis is absent or failing (`app.redisguard`): a limit is never a reason to fail a request."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

from limits import RateLimitItem
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from app.config import Settings, parse_rate_limit
from app.redisguard import RedisGuard, RedisUnavailable

KEY_PREFIX = "trackr-limits"


@dataclass(frozen=True)
class Policy:
    """One named limit, as the RateLimit-Policy header names it."""

    name: str
    item: RateLimitItem

    @property
    def window_seconds(self) -> int:
        return int(self.item.get_expiry())

    def policy_header(self) -> str:
        return f'"{self.name}";q={self.item.amount};w={self.window_seconds}'


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    remaining: int
    reset_seconds: int  # until the window lets the next request through
    shared: bool  # counted in Redis, across API nodes

    def header(self, policy: Policy) -> str:
        return f'"{policy.name}";r={self.remaining};t={self.reset_seconds}'


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self.reads = Policy("reads", parse_rate_limit(settings.rate_limit_reads))
        self.writes = Policy("writes", parse_rate_limit(settings.rate_limit_writes))
        self._memory = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._redis: SlidingWindowCounterRateLimiter | None = None
        self._storage: RedisStorage | None = None
        self.guard = RedisGuard(
            "rate_limit",
            settings.redis_timeout_seconds,
            settings.redis_cooldown_seconds,
            configured=bool(settings.rate_limit_storage_url),
        )
        if settings.rate_limit_storage_url:
            timeout = settings.redis_timeout_seconds
            self._storage = RedisStorage(
                "async+" + settings.rate_limit_storage_url,
                wrap_exceptions=True,
                implementation="redispy",
                key_prefix=KEY_PREFIX,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
            )
            self._redis = SlidingWindowCounterRateLimiter(self._storage)

    @property
    def storage(self) -> Literal["redis", "memory"]:
        """Where counts go now: `redis` (shared by every node) or `memory` (this process)."""
        return "redis" if self._redis is not None and self.guard.up else "memory"

    async def hit(self, policy: Policy, key: str) -> Verdict:
        if self._redis is not None:
            redis = self._redis
            try:
                return await self.guard.call(lambda: _hit(redis, policy, key, shared=True))
            except RedisUnavailable:
                pass
        return await _hit(self._memory, policy, key, shared=False)

    async def aclose(self) -> None:
        if self._storage is not None:
            await self._storage.bridge.storage.aclose()  # type: ignore[attr-defined]


async def _hit(
    limiter: SlidingWindowCounterRateLimiter, policy: Policy, key: str, *, shared: bool
) -> Verdict:
    allowed = await limiter.hit(policy.item, policy.name, key)
    stats = await limiter.get_window_stats(policy.item, policy.name, key)
    reset = max(0, math.ceil(stats.reset_time - time.time()))
    return Verdict(allowed, stats.remaining, reset, shared)
