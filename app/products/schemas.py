"""Request and response shapes of the product API (also its OpenAPI documentation)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema

from app.categories import category_names
from app.text import reject_nul, reject_unencodable

MONEY_MAX = Decimal("9999999999.99")  # numeric(12,2)
Money = Annotated[
    Decimal,
    Field(ge=0, le=MONEY_MAX, max_digits=12, decimal_places=2, examples=[1299.0]),
    PlainSerializer(float, return_type=float, when_used="json"),
    # A number with up to two decimals (a numeric string is accepted too).
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": float(MONEY_MAX)}),
]
Currency = Annotated[
    str,
    BeforeValidator(lambda v: v.upper() if isinstance(v, str) else v),
    Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code", examples=["USD"]),
    WithJsonSchema({"type": "string", "pattern": "^[A-Za-z]{3}$", "description": "ISO 4217 code"}),
]
ProductName = Annotated[str, Field(min_length=1, max_length=300)]
ProductUrl = Annotated[AnyHttpUrl, Field(max_length=2048)]
CategoryName = Annotated[str, Field(json_schema_extra={"enum": category_names()})]
# Free-form here; each category's schema validates them (GET /api/categories lists those).
ATTRIBUTES = Field(description="The category's attributes (see GET /api/categories)")
AttributeValues = Annotated[dict[str, Any], AfterValidator(reject_unencodable), ATTRIBUTES]


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
    attributes: AttributeValues = Field(default_factory=dict)


def _without_null_defaults(schema: dict[str, Any]) -> None:
    """A field that cannot be null has no `default: null` in the schema either."""
    for prop in schema.get("properties", {}).values():
        if prop.get("default", ...) is None and "anyOf" not in prop:
            del prop["default"]


class ProductUpdate(_Strict):
    """Partial update: only the fields sent change. `attributes` is merged into the stored ones
    (a null value removes a key); `url: null` clears the URL. Other fields cannot be null."""

    model_config = ConfigDict(json_schema_extra=_without_null_defaults)

    # None only when not sent: the schema leaves null out, and validation refuses it.
    category: CategoryName | SkipJsonSchema[None] = None
    name: ProductName | SkipJsonSchema[None] = None
    url: ProductUrl | None = None
    price: Money | SkipJsonSchema[None] = None
    currency: Currency | SkipJsonSchema[None] = None
    in_stock: bool | SkipJsonSchema[None] = None
    attributes: Annotated[
        dict[str, Any] | SkipJsonSchema[None], AfterValidator(reject_unencodable), ATTRIBUTES
    ] = None

    @field_validator("category", "name", "price", "currency", "in_stock", "attributes")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null (leave the field out to keep it)")
        return value


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
