"""List parameters: filters, sort orders and opaque keyset cursors."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import orjson

from app.errors import InvalidCursor
from app.text import has_nul

SortName = Literal["id", "price", "-price", "name", "-updated_at"]
SORTS: dict[str, tuple[str, bool]] = {
    "id": ("id", False),
    "price": ("price", False),
    "-price": ("price", True),
    "name": ("name", False),
    "-updated_at": ("updated_at", True),
}


@dataclass(frozen=True)
class ProductFilters:
    category: str | None = None
    q: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    in_stock: bool | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Cursor:
    """Position after the last row of a page: its sort key value and id."""

    sort: str
    value: Any
    id: int

    def encode(self) -> str:
        value = self.value
        if isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        raw = orjson.dumps({"s": self.sort, "v": value, "i": self.id})
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, sort: str) -> Cursor:
        try:
            padded = token + "=" * (-len(token) % 4)
            data = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
            if not isinstance(data, dict) or not _is_row_id(data.get("i")):
                raise ValueError("cursor has no valid id")
            if data.get("s") != sort:
                raise InvalidCursor(
                    f"this cursor belongs to sort={data.get('s')!r}, not sort={sort!r}; "
                    "keep the same sort while paging"
                )
            return cls(sort, _typed_value(SORTS[sort][0], data.get("v")), data["i"])
        except InvalidCursor:
            raise
        except (ValueError, TypeError, binascii.Error, InvalidOperation, orjson.JSONDecodeError):
            raise InvalidCursor(
                "the cursor is not one this API issued; use `next_cursor` from a previous page"
            ) from None


MAX_ID = 2**63 - 1
MAX_PRICE = Decimal("1e10")  # numeric(12,2)


def _is_row_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def _typed_value(column: str, value: Any) -> Any:
    """The cursor's sort-key value, checked as strictly as the column it came from."""
    if column == "id":
        return None
    if not isinstance(value, str) or has_nul(value):
        raise ValueError("cursor value must be a string")
    if column == "price":
        price = Decimal(value)
        if not price.is_finite() or not 0 <= price < MAX_PRICE:
            raise ValueError("cursor price out of range")
        return price
    if column == "updated_at":
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError("cursor timestamp lacks a time zone")
        return moment
    return value
