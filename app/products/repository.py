"""SQL for products and their price history (SQLAlchemy Core: rows, not ORM objects)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import RowMapping, Table, bindparam, delete, func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import PriceHistory, Product
from app.products.listing import SORTS, Cursor, ProductFilters

products = cast(Table, Product.__table__)
price_history = cast(Table, PriceHistory.__table__)

PRODUCT_COLUMNS = (
    products.c.id,
    products.c.category,
    products.c.name,
    products.c.url,
    products.c.price,
    products.c.currency,
    products.c.in_stock,
    products.c.attributes,
    products.c.created_at,
    products.c.updated_at,
    products.c.version,
)


# The hot read, built once (SQLAlchemy then reuses its compiled form).
BY_ID = select(*PRODUCT_COLUMNS).where(products.c.id == bindparam("product_id"))
BY_ID_FOR_UPDATE = BY_ID.with_for_update()


async def get_product(
    session: AsyncSession, product_id: int, *, for_update: bool = False
) -> RowMapping | None:
    stmt = BY_ID_FOR_UPDATE if for_update else BY_ID
    return (await session.execute(stmt, {"product_id": product_id})).mappings().first()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_products(
    session: AsyncSession, filters: ProductFilters, sort: str, cursor: Cursor | None, limit: int
) -> Sequence[RowMapping]:
    """Up to `limit + 1` rows, so the caller can tell whether another page exists."""
    stmt = select(*PRODUCT_COLUMNS)
    if filters.category is not None:
        stmt = stmt.where(products.c.category == filters.category)
    if filters.q:
        stmt = stmt.where(products.c.name.ilike(f"%{_escape_like(filters.q)}%", escape="\\"))
    if filters.min_price is not None:
        stmt = stmt.where(products.c.price >= filters.min_price)
    if filters.max_price is not None:
        stmt = stmt.where(products.c.price <= filters.max_price)
    if filters.in_stock is not None:
        stmt = stmt.where(products.c.in_stock.is_(filters.in_stock))
    if filters.attributes:
        stmt = stmt.where(products.c.attributes.contains(filters.attributes))

    column_name, descending = SORTS[sort]
    key = products.c[column_name]
    if cursor is not None:
        if column_name == "id":
            stmt = stmt.where(
                products.c.id < cursor.id if descending else products.c.id > cursor.id
            )
        else:
            position = tuple_(key, products.c.id)
            after = tuple_(cursor.value, cursor.id)
            stmt = stmt.where(position < after if descending else position > after)
    order = [key.desc(), products.c.id.desc()] if descending else [key.asc(), products.c.id.asc()]
    if column_name == "id":
        order = order[:1]
    stmt = stmt.order_by(*order).limit(limit + 1)
    return (await session.execute(stmt)).mappings().all()


async def insert_product(session: AsyncSession, values: dict[str, Any]) -> RowMapping:
    stmt = insert(products).values(**values).returning(*PRODUCT_COLUMNS)
    return (await session.execute(stmt)).mappings().one()


async def update_product(
    session: AsyncSession, product_id: int, values: dict[str, Any]
) -> RowMapping:
    stmt = (
        update(products)
        .where(products.c.id == product_id)
        .values(**values, version=products.c.version + 1, updated_at=func.now())
        .returning(*PRODUCT_COLUMNS)
    )
    return (await session.execute(stmt)).mappings().one()


async def delete_product(session: AsyncSession, product_id: int) -> bool:
    result = await session.execute(
        delete(products).where(products.c.id == product_id).returning(products.c.id)
    )
    return result.first() is not None


async def record_price(session: AsyncSession, product_id: int, price: Any, currency: str) -> None:
    await session.execute(
        insert(price_history).values(product_id=product_id, price=price, currency=currency)
    )


async def price_points(session: AsyncSession, product_id: int, limit: int) -> Sequence[RowMapping]:
    stmt = (
        select(price_history.c.price, price_history.c.currency, price_history.c.observed_at)
        .where(price_history.c.product_id == product_id)
        .order_by(price_history.c.observed_at.desc(), price_history.c.id.desc())
        .limit(limit)
    )
    return (await session.execute(stmt)).mappings().all()


async def product_exists(session: AsyncSession, product_id: int) -> bool:
    stmt = select(products.c.id).where(products.c.id == product_id)
    return (await session.execute(stmt)).first() is not None


async def counts_by_category(session: AsyncSession) -> dict[str, int]:
    stmt = select(products.c.category, func.count()).group_by(products.c.category)
    result = await session.execute(stmt)
    return {category: int(count) for category, count in result}
