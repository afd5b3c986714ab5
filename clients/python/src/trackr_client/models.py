"""The API's resources as the client returns them. A test compares them with the OpenAPI
document the server publishes, so a changed response shape fails there, not in production."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict


class _Resource(BaseModel):
    # Fields a newer server adds are kept, not refused: an old client keeps working.
    model_config = ConfigDict(extra="allow", frozen=True)


class Product(_Resource):
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


class ProductPage(_Resource):
    items: list[Product]
    next_cursor: str | None = None


class PricePoint(_Resource):
    price: Decimal
    currency: str
    observed_at: datetime


class PriceHistory(_Resource):
    product_id: int
    items: list[PricePoint]
