"""Product rules: category attribute validation, merging, price history, optimistic concurrency."""

from __future__ import annotations

from typing import Any

from asyncpg import Record
from pydantic import ValidationError

from app.categories import Category, category_names, get_category
from app.db.routing import ReadSession
from app.db.session import WriteSession
from app.errors import FieldProblem, NotFound, PreconditionFailed, ValidationProblem
from app.products import repository
from app.products.listing import SORTS, Cursor
from app.products.query import ListQuery
from app.products.schemas import ProductCreate, ProductUpdate


def require_category(name: str, pointer: str = "#/category") -> Category:
    category = get_category(name)
    if category is None:
        raise ValidationProblem(
            f"unknown category {name!r}",
            errors=[
                FieldProblem(
                    detail=f"must be one of: {', '.join(category_names())}",
                    type="unknown_category",
                    pointer=pointer,
                )
            ],
        )
    return category


def validate_attributes(category: Category, raw: dict[str, Any]) -> dict[str, Any]:
    try:
        return category.validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            path = "/".join(str(p) for p in err["loc"])
            pointer = f"#/attributes/{path}" if path else "#/attributes"
            detail = err["msg"]
            if err["type"] == "extra_forbidden":
                detail = (
                    f"unknown attribute for category {category.name!r}; "
                    f"known: {', '.join(category.filter_keys())}"
                )
            problems.append(FieldProblem(detail=detail, type=err["type"], pointer=pointer))
        raise ValidationProblem(
            f"attributes are not valid for category {category.name!r}", errors=problems
        ) from None


def _not_found(product_id: int) -> NotFound:
    return NotFound(f"product {product_id} does not exist")


async def get_product(session: ReadSession, product_id: int) -> Record:
    row = await repository.get_product(session, product_id)
    if row is None:
        raise _not_found(product_id)
    return row


async def list_products(session: ReadSession, query: ListQuery) -> tuple[list[Record], str | None]:
    sort, limit = query.sort, query.limit
    position = Cursor.decode(query.cursor, sort) if query.cursor else None
    rows = await repository.list_products(session, query.filters, sort, position, limit)
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    column = SORTS[sort][0]
    last = page[-1]
    return page, Cursor(sort, last[column], last["id"]).encode()


async def create_product(session: WriteSession, data: ProductCreate) -> Record:
    category = require_category(data.category)
    values = data.model_dump(exclude={"attributes"})
    values["url"] = str(data.url) if data.url else None
    values["attributes"] = validate_attributes(category, data.attributes)
    return await repository.insert_product(session, values)


def _merge(stored: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = dict(stored)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


async def update_product(
    session: WriteSession, product_id: int, patch: ProductUpdate, expected_version: int | None
) -> Record:
    current = await repository.lock_product(session, product_id)
    if current is None:
        raise _not_found(product_id)
    if expected_version is not None and current["version"] != expected_version:
        raise PreconditionFailed(
            f"product {product_id} is at version {current['version']}, not {expected_version}; "
            "fetch it again and retry"
        )
    changes = patch.model_dump(exclude_unset=True, exclude={"attributes", "url"})
    if "url" in patch.model_fields_set:
        changes["url"] = str(patch.url) if patch.url else None
    category = require_category(changes.get("category", current["category"]))
    if patch.attributes is not None or "category" in changes:
        merged = _merge(current["attributes"], patch.attributes or {})
        changes["attributes"] = validate_attributes(category, merged)
    if all(current[name] == value for name, value in changes.items()):
        return current  # a no-op changes nothing: same version and ETag, no price point
    return await repository.update_product(session, current, changes)


async def delete_product(session: WriteSession, product_id: int) -> None:
    if not await repository.delete_product(session, product_id):
        raise _not_found(product_id)


async def price_history(session: ReadSession, product_id: int, limit: int) -> list[Record]:
    points = await repository.price_points(session, product_id, limit)
    if not points and not await repository.product_exists(session, product_id):
        raise _not_found(product_id)
    return points
