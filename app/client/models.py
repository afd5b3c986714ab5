"""The API's resources as the client returns them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel


class Product(BaseModel):
    id: int
    category: str
    name: str
    url: str | None
    price: Decimal
    currency: str
    in_stock: bool
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    version: int


class ProductPage(BaseModel):
    items: list[Product]
    next_cursor: str | None


class PricePoint(BaseModel):
    price: Decimal
    currency: str
    observed_at: datetime


class PriceHistory(BaseModel):
    product_id: int
    items: list[PricePoint]
