"""The WAL position a replica's answer must have reached before the cache keeps it.

An invalidation drops what the cache holds, but the read that refills it may come from a
replica that has not replayed the change yet: kept, that answer would bring the old data
back for a whole TTL. So every invalidation leaves a floor on what it touched: unknown
(`PENDING`) when the notification is heard, then the primary's WAL position read just
after (`settle`), which is past the change's commit. An answer read from a replica is kept,
or taken from Redis, only when its stamp is at or past the floor. Answers read on the
primary need none: a read that began after the notification sees the change, and one that
began before is refused by the cache's epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cachetools import TTLCache

from app.cache.keys import Key

PENDING = 2**64  # past every WAL position: no replica answer passes until the floor settles
FLOOR_SECONDS = 60.0  # longer than any replica may lag and still serve reads


@dataclass(slots=True)
class Unsettled:
    """What was invalidated since the last settlement."""

    product_ids: set[int] = field(default_factory=set)
    every_product: bool = False
    views: bool = False

    def __bool__(self) -> bool:
        return bool(self.product_ids) or self.every_product or self.views


class Floors:
    def __init__(self, max_entries: int) -> None:
        self._products: TTLCache[int, int] = TTLCache(max_entries, FLOOR_SECONDS)
        self._every_product = 0
        self._views = 0
        self._unsettled = Unsettled()

    def raise_for(self, product_ids: list[int] | None) -> None:
        """Products changed (None: any number of them), and with them every view."""
        self._views = PENDING
        self._unsettled.views = True
        if product_ids is None:
            self._every_product = PENDING
            self._unsettled.every_product = True
            return
        for product_id in product_ids:
            self._products[product_id] = PENDING
            self._unsettled.product_ids.add(product_id)

    def take(self) -> Unsettled:
        """What a WAL position read from now on settles."""
        taken, self._unsettled = self._unsettled, Unsettled()
        return taken

    def give_back(self, taken: Unsettled) -> None:
        """The position could not be read: what was taken stays to be settled."""
        self._unsettled.product_ids |= taken.product_ids
        self._unsettled.every_product |= taken.every_product
        self._unsettled.views |= taken.views

    def settle(self, taken: Unsettled, position: int) -> None:
        """Changes heard before `position` was read are all at or before it; what was raised
        again since then stays pending."""
        for product_id in taken.product_ids - self._unsettled.product_ids:
            if product_id in self._products:
                self._products[product_id] = position
        if taken.every_product and not self._unsettled.every_product:
            self._every_product = position
        if taken.views and not self._unsettled.views:
            self._views = position

    def of(self, key: Key) -> int:
        if key.kind == "view":
            return self._views
        return max(self._every_product, self._products.get(key.product_id or 0, 0))
