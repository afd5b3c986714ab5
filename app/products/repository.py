"""SQL for products and their price history.

Plain SQL with asyncpg's `$n` parameters: reads on the routed read session's driver
connection (asyncpg prepares each statement once per connection), writes in the write
session's transaction on the primary. Names come from app.db.tables.
"""

from __future__ import annotations

from typing import Any

import orjson
from asyncpg import Record

from app.db.routing import ReadSession
from app.db.session import WriteSession
from app.db.tables import PRICE_HISTORY, PRODUCT_COLUMNS, PRODUCTS
from app.products.listing import SORTS, Cursor, ProductFilters

COLUMNS = ", ".join(PRODUCT_COLUMNS)
PRODUCT_BY_ID = f"SELECT {COLUMNS} FROM {PRODUCTS} WHERE id = $1"
PRODUCT_EXISTS = f"SELECT 1 FROM {PRODUCTS} WHERE id = $1"
PRICE_POINTS = (
    f"SELECT price, currency, observed_at FROM {PRICE_HISTORY} WHERE product_id = $1 "
    "ORDER BY observed_at DESC, id DESC LIMIT $2"
)
COUNTS_BY_CATEGORY = f"SELECT category, count(*) FROM {PRODUCTS} GROUP BY category"
LOCK_BY_ID = f"SELECT {COLUMNS} FROM {PRODUCTS} WHERE id = $1 FOR UPDATE"
# A new product and its first price point in one statement (one round trip): PostgreSQL runs
# a data-modifying CTE even when the outer query does not read it.
INSERT_PRODUCT_WITH_PRICE = f"""
WITH new_product AS (
    INSERT INTO {PRODUCTS} (category, name, url, price, currency, in_stock, attributes)
    VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
    RETURNING {COLUMNS}
), first_price AS (
    INSERT INTO {PRICE_HISTORY} (product_id, price, currency)
    SELECT id, price, currency FROM new_product
)
SELECT {COLUMNS} FROM new_product
"""
DELETE_BY_ID = f"DELETE FROM {PRODUCTS} WHERE id = $1 RETURNING id"
# The columns a PATCH may set, in the order their parameters are numbered.
UPDATABLE = ("category", "name", "url", "price", "currency", "in_stock", "attributes")


def _json(value: Any) -> str:
    # The driver's jsonb codec takes JSON text (SQLAlchemy's dialect installs it).
    return orjson.dumps(value).decode()


async def get_product(session: ReadSession, product_id: int) -> Record | None:
    return await session.fetchrow(PRODUCT_BY_ID, product_id)


async def lock_product(session: WriteSession, product_id: int) -> Record | None:
    return await session.fetchrow(LOCK_BY_ID, product_id)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class _Sql:
    """WHERE conditions with their `$n` parameters, numbered in order."""

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.args: list[Any] = []

    def param(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def where(self, condition: str) -> None:
        self.conditions.append(condition)


def list_products_sql(
    filters: ProductFilters, sort: str, cursor: Cursor | None, limit: int
) -> tuple[str, list[Any]]:
    """The list query for these filters, with `limit + 1` rows so a next page shows."""
    sql = _Sql()
    if filters.category is not None:
        sql.where(f"category = {sql.param(filters.category)}")
    if filters.q:
        sql.where(f"name ILIKE {sql.param(f'%{_escape_like(filters.q)}%')} ESCAPE '\\'")
    if filters.min_price is not None:
        sql.where(f"price >= {sql.param(filters.min_price)}")
    if filters.max_price is not None:
        sql.where(f"price <= {sql.param(filters.max_price)}")
    if filters.in_stock is not None:
        sql.where(f"in_stock = {sql.param(filters.in_stock)}")
    if filters.attributes:
        sql.where(f"attributes @> {sql.param(orjson.dumps(filters.attributes).decode())}::jsonb")

    column, descending = SORTS[sort]  # a fixed set of column names, never client text
    direction, beyond = ("DESC", "<") if descending else ("ASC", ">")
    if cursor is not None:
        if column == "id":
            sql.where(f"id {beyond} {sql.param(cursor.id)}")
        else:
            after = f"({sql.param(cursor.value)}, {sql.param(cursor.id)})"
            sql.where(f"({column}, id) {beyond} {after}")
    order = f"id {direction}" if column == "id" else f"{column} {direction}, id {direction}"
    where = f" WHERE {' AND '.join(sql.conditions)}" if sql.conditions else ""
    limit_param = sql.param(limit + 1)
    text = f"SELECT {COLUMNS} FROM {PRODUCTS}{where} ORDER BY {order} LIMIT {limit_param}"
    return text, sql.args


async def list_products(
    session: ReadSession, filters: ProductFilters, sort: str, cursor: Cursor | None, limit: int
) -> list[Record]:
    """Up to `limit + 1` rows, so the caller can tell whether another page exists."""
    text, args = list_products_sql(filters, sort, cursor, limit)
    return await session.fetch(text, *args)


async def insert_product(session: WriteSession, values: dict[str, Any]) -> Record:
    """Insert a product with its first price-history point; the new row."""
    row = await session.fetchrow(
        INSERT_PRODUCT_WITH_PRICE,
        values["category"], values["name"], values["url"], values["price"],
        values["currency"], values["in_stock"], _json(values["attributes"]),
    )  # fmt: skip
    assert row is not None  # INSERT … RETURNING returns its row
    return row


def update_product_sql(columns: list[str]) -> str:
    """UPDATE of the given columns ($2…), bumping the version, and a price-history point when
    the price or currency differs from the one the caller read (the last two parameters), in
    one statement; $1 is the product's id."""
    unknown = set(columns) - set(UPDATABLE)
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    assignments = [
        f"{name} = ${index}" + ("::jsonb" if name == "attributes" else "")
        for index, name in enumerate(columns, start=2)
    ]
    previous = len(columns) + 2
    return f"""
WITH updated AS (
    UPDATE {PRODUCTS} SET {", ".join(assignments)}, version = version + 1,
        updated_at = now()
    WHERE id = $1 RETURNING {COLUMNS}
), price_point AS (
    INSERT INTO {PRICE_HISTORY} (product_id, price, currency)
    SELECT id, price, currency FROM updated
    WHERE (price, currency) IS DISTINCT FROM (${previous}::numeric, ${previous + 1}::text)
)
SELECT {COLUMNS} FROM updated
"""


async def update_product(session: WriteSession, current: Record, values: dict[str, Any]) -> Record:
    """Apply `values` to the locked row `current`; the updated row."""
    columns = list(values)
    args = [_json(values[c]) if c == "attributes" else values[c] for c in columns]
    row = await session.fetchrow(
        update_product_sql(columns), current["id"], *args, current["price"], current["currency"]
    )
    assert row is not None  # the caller holds the row's lock
    return row


async def delete_product(session: WriteSession, product_id: int) -> bool:
    return await session.fetchval(DELETE_BY_ID, product_id) is not None


async def price_points(session: ReadSession, product_id: int, limit: int) -> list[Record]:
    return await session.fetch(PRICE_POINTS, product_id, limit)


async def product_exists(session: ReadSession, product_id: int) -> bool:
    return await session.fetchval(PRODUCT_EXISTS, product_id) is not None


async def counts_by_category(session: ReadSession) -> dict[str, int]:
    rows = await session.fetch(COUNTS_BY_CATEGORY)
    return {row["category"]: int(row["count"]) for row in rows}
