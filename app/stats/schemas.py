from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class StatsOut(BaseModel):
    schema_revision: str | None
    product_count: int
    products_by_category: dict[str, int]
    last_updated_at: datetime | None
