"""The one parser of the product reads' parameters, for the FastAPI routes and the fast path.

`ListParams` names the list endpoint's parameters once, with their types and bounds; the
route declares it as its query model and the fast path validates the same model. `parse_list`
then reads what a model cannot: typed `attr.<key>` filters, unknown names and NUL bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from app.categories import get_category
from app.errors import FieldProblem, ValidationProblem
from app.products.listing import ProductFilters, SortName
from app.products.schemas import CategoryName, Money
from app.text import NUL_MESSAGE, has_nul

MIN_PRODUCT_ID = 1
MAX_PRODUCT_ID = 2**63 - 1
LIST_LIMIT_DEFAULT = 20
LIST_LIMIT_MAX = 100
CURSOR_MAX_LENGTH = 1000
Q_MAX_LENGTH = 200
ATTR_PREFIX = "attr."


class ListParams(BaseModel):
    """The list endpoint's own query parameters (`attr.<key>` filters come on top)."""

    category: CategoryName | None = Field(None, description="Category name, e.g. `mac`")
    q: str | None = Field(None, max_length=Q_MAX_LENGTH, description="Name contains (any case)")
    min_price: Money | None = None
    max_price: Money | None = None
    in_stock: bool | None = None
    sort: SortName = "id"
    limit: int = Field(LIST_LIMIT_DEFAULT, ge=1, le=LIST_LIMIT_MAX)
    cursor: str | None = Field(
        None, max_length=CURSOR_MAX_LENGTH, description="`next_cursor` of the previous page"
    )


KNOWN_PARAMETERS = tuple(ListParams.model_fields)


@dataclass(frozen=True)
class ListQuery:
    filters: ProductFilters
    sort: str
    limit: int
    cursor: str | None


def product_id(raw: str) -> int | None:
    """A path segment as a product id, when it is one written plainly (no sign, no zeros)."""
    if not raw.isascii() or not raw.isdigit() or raw.startswith("0"):
        return None
    value = int(raw)
    return value if MIN_PRODUCT_ID <= value <= MAX_PRODUCT_ID else None


def _problem(parameter: str, detail: str, type_: str) -> FieldProblem:
    return FieldProblem(detail=detail, type=type_, parameter=parameter)


def _invalid(problems: list[FieldProblem]) -> ValidationProblem:
    return ValidationProblem("the query string has invalid filters; see `errors`", errors=problems)


def parse_list(params: ListParams, items: Sequence[tuple[str, str]]) -> ListQuery:
    """The list query from its validated parameters and the whole query string (`items`)."""
    problems = [
        _problem(key, NUL_MESSAGE, "nul_character")
        for key, raw in items
        if has_nul(raw) or has_nul(key)
    ]
    if problems:
        raise _invalid(problems)
    category = params.category
    known_category = get_category(category) if category is not None else None
    if category is not None and known_category is None:
        problems.append(_problem("category", f"unknown category {category!r}", "unknown_category"))
    attributes: dict[str, Any] = {}
    for key, raw in items:
        if not key.startswith(ATTR_PREFIX):
            if key not in KNOWN_PARAMETERS:
                known = ", ".join(KNOWN_PARAMETERS)
                detail = f"unknown query parameter; known: {known}, and {ATTR_PREFIX}<attribute>"
                problems.append(_problem(key, detail + " with category", "unknown_parameter"))
            continue
        name = key.removeprefix(ATTR_PREFIX)
        if category is None:
            problems.append(_problem(key, "attribute filters need `category`", "category_required"))
        elif known_category is None:
            continue
        elif name not in known_category.attributes.model_fields:
            known = ", ".join(known_category.filter_keys())
            detail = f"unknown attribute for category {category!r}; known: {known}"
            problems.append(_problem(key, detail, "unknown_attribute"))
        elif name in attributes:
            problems.append(_problem(key, "given more than once", "duplicate_filter"))
        else:
            try:
                attributes[name] = known_category.parse_filter_value(name, raw)
            except ValidationError as exc:
                problems.append(_problem(key, exc.errors()[0]["msg"], "invalid_filter_value"))
    min_price, max_price = params.min_price, params.max_price
    if min_price is not None and max_price is not None and min_price > max_price:
        problems.append(_problem("min_price", "must not exceed max_price", "invalid_range"))
    if problems:
        raise _invalid(problems)
    filters = ProductFilters(
        category=category,
        q=params.q or None,
        min_price=Decimal(min_price) if min_price is not None else None,
        max_price=Decimal(max_price) if max_price is not None else None,
        in_stock=params.in_stock,
        attributes=attributes,
    )
    return ListQuery(filters, params.sort, params.limit, params.cursor)
