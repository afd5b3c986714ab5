"""Two tiers: this process's memory, then Redis (optional, shared by the API nodes).

An entry is served while it is at most CACHE_TTL_SECONDS stale and, to a read carrying a
consistency token, only when its stamp is at or past the token. Its age bounds its staleness;
so does, for a product this process read itself, the last time the invalidation channel
vouched for it (`confirm`): every change committed before then was heard, and would have
dropped it. Views (lists, histories, categories) live for the TTL only: a page can be large,
there can be many, and any change drops them all anyway.
The memory tier is dropped by the invalidations (`invalidate`, from the primary's NOTIFY) and
not used at all while they cannot be heard; an answer a replica gave is kept only once it
shows every change heard of (`floors`). Redis is a helper behind `RedisGuard`, never a reason
to fail a read.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from cachetools import Cache, LRUCache, TTLCache
from prometheus_client import Counter

from app.cache.entry import Entry
from app.cache.floors import Floors
from app.cache.keys import Key, item_key
from app.config import Settings
from app.redisguard import RedisGuard, RedisUnavailable

if TYPE_CHECKING:
    import redis.asyncio as redis

REDIS_PREFIX = "trackr:cache:"
Tier = Literal["memory", "redis"]
NEVER = float("-inf")
LOOKUPS = Counter(
    "trackr_cache_lookups_total",
    "Read cache lookups by tier and result (hit, miss, behind: older than the request's token)",
    ["tier", "result"],
)
# Each series bound once: `labels` validates and locks on every call.
COUNTED = {(tier, result): LOOKUPS.labels(tier, result)
           for tier in ("memory", "redis") for result in ("hit", "miss", "behind")}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Held:
    """An entry in memory. `watched`: a product this process read and has heard every change
    to since (the epoch let it in; a change drops it), so the channel's word keeps it fresh."""

    entry: Entry
    watched: bool


class ReadCache:
    def __init__(self, settings: Settings) -> None:
        self.ttl = settings.cache_ttl_seconds
        self._items: LRUCache[str, Held] = LRUCache(settings.cache_max_entries)
        self._views: TTLCache[str, Held] = TTLCache(settings.cache_max_entries, self.ttl)
        self.epoch = 0  # +1 per invalidation: a read that raced one does not store
        # When the last question that the channel answered was sent (time.monotonic()):
        # every change committed before it had been heard by the time the answer came.
        self.confirmed_at = NEVER
        self.floors = Floors(settings.cache_max_entries)
        self.memory_usable = True
        self.hits = {"memory": 0, "redis": 0}
        self.misses = 0
        self.guard = RedisGuard(
            "cache",
            settings.redis_timeout_seconds,
            settings.redis_cooldown_seconds,
            configured=bool(settings.cache_url),
        )
        self._redis: redis.Redis | None = None
        if settings.cache_url:
            import redis.asyncio as redis  # 0.45 s of start-up: only with Redis

            timeout = settings.redis_timeout_seconds
            self._redis = redis.Redis.from_url(
                settings.cache_url, socket_timeout=timeout, socket_connect_timeout=timeout
            )
        self._pending: set[asyncio.Task[None]] = set()

    @property
    def entries(self) -> int:
        return len(self._items) + len(self._views)

    def _tier(self, key: Key) -> Cache[str, Held]:
        return self._items if key.kind == "item" else self._views

    def confirm(self, asked_at: float) -> None:
        """The channel answered a question sent at `asked_at` (time.monotonic())."""
        self.confirmed_at = max(self.confirmed_at, asked_at)

    def _fresh(self, entry: Entry, watched: bool) -> bool:
        return time.time() - entry.stored_at <= self.ttl or (
            watched and time.monotonic() - self.confirmed_at <= self.ttl
        )

    @staticmethod
    def _new_enough(entry: Entry, min_stamp: int | None) -> bool:
        return min_stamp is None or entry.stamp >= min_stamp

    def _shows_what_was_heard(self, key: Key, entry: Entry) -> bool:
        return not entry.replica or entry.stamp >= self.floors.of(key)

    async def get(self, key: Key, min_stamp: int | None) -> tuple[Entry, Tier] | None:
        if self.memory_usable:
            held = self._tier(key).get(key.text)
            if held is None or not self._fresh(held.entry, held.watched):
                COUNTED["memory", "miss"].inc()
            elif self._new_enough(held.entry, min_stamp):
                return self._hit(held.entry, "memory")
            else:
                COUNTED["memory", "behind"].inc()
        if self._redis is not None:
            entry = await self._from_redis(self._redis, key)
            if entry is None or not self._fresh(entry, watched=False):
                COUNTED["redis", "miss"].inc()
            elif self._new_enough(entry, min_stamp) and self._shows_what_was_heard(key, entry):
                if self.memory_usable:
                    # Changes made between its read (on some node) and now went unheard here.
                    self._tier(key)[key.text] = Held(entry, watched=False)
                return self._hit(entry, "redis")
            else:
                COUNTED["redis", "behind"].inc()
        self.misses += 1
        return None

    def _hit(self, entry: Entry, tier: Tier) -> tuple[Entry, Tier]:
        self.hits[tier] += 1
        COUNTED[tier, "hit"].inc()
        return entry, tier

    async def _from_redis(self, client: redis.Redis, key: Key) -> Entry | None:
        try:
            packed = await self.guard.call(lambda: client.get(REDIS_PREFIX + key.text))
        except RedisUnavailable:
            return None
        return Entry.unpack(packed) if isinstance(packed, bytes) else None

    def put(self, key: Key, entry: Entry, epoch: int) -> None:
        """Keep a response read since `epoch`, unless an invalidation came in between or
        a replica gave it before replaying a change already heard of."""
        if epoch != self.epoch or not self._shows_what_was_heard(key, entry):
            return
        if self.memory_usable:
            self._tier(key)[key.text] = Held(entry, watched=key.kind == "item")
        if self._redis is not None and self.guard.up:
            self._background(self._to_redis(self._redis, key, entry))

    async def _to_redis(self, client: redis.Redis, key: Key, entry: Entry) -> None:
        ttl_ms = max(1, int(self.ttl * 1000))
        with contextlib.suppress(RedisUnavailable):
            await self.guard.call(lambda: client.set(REDIS_PREFIX + key.text, entry.pack(),
                                                     px=ttl_ms))  # fmt: skip

    def invalidate(self, product_ids: list[int] | None) -> None:
        """Products changed (None: any number of them): their items and every view go."""
        self.floors.raise_for(product_ids)
        self._drop(product_ids)

    def _drop(self, product_ids: list[int] | None) -> None:
        """What memory holds for those products (None: for all of them), and every view; a
        read on its way stores nothing (the epoch)."""
        self.epoch += 1
        if product_ids is None:
            self._items.clear()
        else:
            for product_id in product_ids:
                self._items.pop(item_key(product_id).text, None)
        self._views.clear()

    def forget_shared(self, product_id: int) -> None:
        """After this node's write to a product: its item leaves Redis too (views in Redis
        expire with their TTL)."""
        if self._redis is not None and self.guard.up:
            client = self._redis
            self._background(self._delete(client, item_key(product_id).text))

    async def _delete(self, client: redis.Redis, text: str) -> None:
        with contextlib.suppress(RedisUnavailable):
            await self.guard.call(lambda: client.delete(REDIS_PREFIX + text))

    def stop_using_memory(self) -> None:
        """Invalidations cannot be heard: what memory holds may be stale, and so would be
        anything stored from now on."""
        self.memory_usable = False
        self.confirmed_at = NEVER
        # No floors: nothing could settle them while deaf, and Redis's entries stay usable.
        self._drop(None)

    def use_memory_again(self) -> None:
        self.invalidate(None)  # whatever changed while deaf, Redis's replica answers included
        self.memory_usable = True

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def aclose(self) -> None:
        for task in list(self._pending):
            task.cancel()
        if self._redis is not None:
            await self._redis.aclose()
