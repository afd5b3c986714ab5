"""What the read cache files its entries under."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Key:
    """`item` keys hold one product (dropped with it); `view` keys hold lists, price
    histories and categories (dropped by any change)."""

    kind: Literal["item", "view"]
    text: str
    product_id: int | None = None


def item_key(product_id: int) -> Key:
    return Key("item", f"p:{product_id}", product_id)
