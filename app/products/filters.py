"""The list endpoint's query string: known parameters, typed `attr.<key>` filters, no typos."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import Query, Request
from pydantic import ValidationError

from app.categories import get_category
from app.errors import FieldProblem, ValidationProblem
from app.products.listing import ProductFilters
from app.products.schemas import Money
from app.text import NUL_MESSAGE, has_nul

ATTR_PREFIX = "attr."
Q_MAX_LENGTH = 200
KNOWN_PARAMETERS = (
    "category",
    "q",
    "min_price",
    "max_price",
    "in_stock",
    "sort",
    "limit",
    "cursor",
)


def _problem(parameter: str, detail: str, type_: str) -> FieldProblem:
    return FieldProblem(detail=detail, type=type_, parameter=parameter)


async def product_filters(
    request: Request,
    category: Annotated[str | None, Query(description="Category name, e.g. `mac`")] = None,
    q: Annotated[
        str | None, Query(max_length=Q_MAX_LENGTH, description="Name contains (any case)")
    ] = None,
    min_price: Annotated[Money | None, Query()] = None,
    max_price: Annotated[Money | None, Query()] = None,
    in_stock: Annotated[bool | None, Query()] = None,
) -> ProductFilters:
    """Also reads `attr.<key>=<value>` (repeatable, needs `category`, typed by its schema)."""
    problems: list[FieldProblem] = [
        _problem(key, NUL_MESSAGE, "nul_character")
        for key, raw in request.query_params.multi_items()
        if has_nul(raw) or has_nul(key)
    ]
    if problems:
        raise ValidationProblem(
            "the query string has invalid filters; see `errors`", errors=problems
        )
    known_category = get_category(category) if category is not None else None
    if category is not None and known_category is None:
        problems.append(_problem("category", f"unknown category {category!r}", "unknown_category"))
    attributes: dict[str, Any] = {}
    for key, raw in request.query_params.multi_items():
        if not key.startswith(ATTR_PREFIX):
            if key not in KNOWN_PARAMETERS:
                problems.append(
                    _problem(
                        key,
                        (
                            "unknown query parameter; known: "
                            + ", ".join(KNOWN_PARAMETERS)
                            + f", and {ATTR_PREFIX}<attribute> with category"
                        ),
                        "unknown_parameter",
                    )
                )
            continue
        name = key.removeprefix(ATTR_PREFIX)
        if category is None:
            problems.append(_problem(key, "attribute filters need `category`", "category_required"))
        elif known_category is None:
            continue
        elif name not in known_category.attributes.model_fields:
            problems.append(
                _problem(
                    key,
                    (
                        f"unknown attribute for category {category!r}; known: "
                        + ", ".join(known_category.filter_keys())
                    ),
                    "unknown_attribute",
                )
            )
        elif name in attributes:
            problems.append(_problem(key, "given more than once", "duplicate_filter"))
        else:
            try:
                attributes[name] = known_category.parse_filter_value(name, raw)
            except ValidationError as exc:
                problems.append(_problem(key, exc.errors()[0]["msg"], "invalid_filter_value"))
    if min_price is not None and max_price is not None and min_price > max_price:
        problems.append(_problem("min_price", "must not exceed max_price", "invalid_range"))
    if problems:
        raise ValidationProblem(
            "the query string has invalid filters; see `errors`", errors=problems
        )
    return ProductFilters(
        category=category,
        q=q or None,
        min_price=Decimal(min_price) if min_price is not None else None,
        max_price=Decimal(max_price) if max_price is not None else None,
        in_stock=in_stock,
        attributes=attributes,
    )
