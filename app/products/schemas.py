"""Request and response shapes of the product API (also its OpenAPI documentation)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Self

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from app.categories import category_names
from app.text import reject_nul

Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=12, decimal_places=2, examples=[1299.0]),
    PlainSerializer(float, return_type=float, when_used="json"),
]
Currency = Annotated[
    str,
    BeforeValidator(lambda v: v.upper() if isinstance(v, str) else v),
    Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code", examples=["USD"]),
]
ProductName = Annotated[str, Field(min_length=1, max_length=300)]
ProductUrl = Annotated[AnyHttpUrl, Field(max_length=2048)]
CategoryName = Annotated[str, Field(json_schema_extra={"enum": category_names()})]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    _no_nul = field_validator("category", "name", check_fields=False)(reject_nul)


class ProductCreate(_Strict):
    category: CategoryName
    name: ProductName
    url: ProductUrl | None = None
    price: Money
    currency: Currency = "USD"
    in_stock: bool = True
    attributes: dict[str, Any] = Field(default_factory=dict)


class ProductUpdate(_Strict):
    """Partial update. `attributes` is merged into the stored ones (a null value removes a key)."""

    category: CategoryName | None = None
    name: ProductName | None = None
    url: ProductUrl | None = None
    price: Money | None = None
    currency: Currency | None = None
    in_stock: bool | None = None
    attributes: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _no_nulls_for_required(self) -> Self:
        for name in ("category", "name", "price", "currency", "in_stock", "attributes"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class ProductOut(BaseModel):
    id: int
    category: str
    name: str
    url: str | None
    price: Money
    currency: str
    in_stock: bool
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    version: int


class ProductPage(BaseModel):
    items: list[ProductOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )


class PricePoint(BaseModel):
    price: Money
    currency: str
    observed_at: datetime


class PriceHistoryOut(BaseModel):
    product_id: int
    items: list[PricePoint]
