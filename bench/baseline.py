"""Ceilings to compare trackr against, in the same run: a constant-JSON endpoint (framework
ceiling), the same by-id and filtered-list queries on a bare asyncpg pool, and the same
product write (driver ceilings).

Kept in the bench code, never in the app. Serve with uvicorn: `bench.baseline:app`,
BASELINE_DSN pointing at the same replica trackr reads from, BASELINE_WRITE_DSN at the
primary trackr writes to.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
from fastapi import FastAPI, Request
from starlette.responses import Response

COLUMNS = (
    "id, category, name, url, price, currency, in_stock, attributes, created_at, "
    "updated_at, version"
)
CONSTANT = orjson.dumps({"id": 1, "category": "mac", "name": "constant", "price": 1.0})


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError


async def _init(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda value: orjson.dumps(value).decode(),
        decoder=orjson.loads,
        schema="pg_catalog",
        format="text",
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(
        os.environ["BASELINE_DSN"], min_size=2, max_size=20, init=_init
    )
    app.state.writer = await asyncpg.create_pool(
        os.environ.get("BASELINE_WRITE_DSN", os.environ["BASELINE_DSN"]),
        min_size=2,
        max_size=20,
        init=_init,
    )
    yield
    await app.state.pool.close()
    await app.state.writer.close()


app = FastAPI(lifespan=lifespan)


def _json(data: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps(data, default=_default), status_code=status, media_type="application/json"
    )


@app.get("/baseline/constant")
async def constant() -> Response:
    return Response(CONSTANT, media_type="application/json")


@app.get("/baseline/products/{product_id}")
async def by_id(product_id: int, request: Request) -> Response:
    row = await request.app.state.pool.fetchrow(
        f"SELECT {COLUMNS} FROM products WHERE id = $1", product_id
    )
    return _json(dict(row)) if row else _json({"detail": "not found"}, 404)


@app.get("/baseline/products")
async def listing(request: Request, category: str, limit: int = 20) -> Response:
    attrs = {k[5:]: _typed(v) for k, v in request.query_params.items() if k.startswith("attr.")}
    sql = f"SELECT {COLUMNS} FROM products WHERE category = $1"
    args: list[Any] = [category]
    if attrs:
        sql += " AND attributes @> $2"
        args.append(attrs)
    sql += f" ORDER BY id LIMIT {int(limit) + 1}"
    rows = await request.app.state.pool.fetch(sql, *args)
    return _json({"items": [dict(r) for r in rows[:limit]], "next_cursor": None})


def _typed(value: str) -> Any:
    """The bench's filter values as trackr types them (`16` → 16, `true` → True), so both
    sides send the same containment query."""
    if value.isdigit():
        return int(value)
    return {"true": True, "false": False}.get(value, value)


INSERT_PRODUCT = (
    "INSERT INTO products (category, name, url, price, currency, in_stock, attributes) "
    f"VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
)
INSERT_PRICE = "INSERT INTO price_history (product_id, price, currency) VALUES ($1, $2, $3)"


@app.post("/baseline/products")
async def create(request: Request) -> Response:
    """The write twin: parse the JSON, one transaction inserting the product and its first
    price point, commit, then the WAL position for the token; 201 with the row."""
    body = orjson.loads(await request.body())
    async with request.app.state.writer.acquire() as conn:
        async with conn.transaction():
            row = await conn.fetchrow(
                INSERT_PRODUCT,
                body["category"],
                body["name"],
                body.get("url"),
                Decimal(str(body["price"])),
                body.get("currency", "USD"),
                body.get("in_stock", True),
                body.get("attributes", {}),
            )
            await conn.execute(INSERT_PRICE, row["id"], row["price"], row["currency"])
        lsn = await conn.fetchval("SELECT pg_current_wal_insert_lsn()::text")
    response = _json(dict(row), 201)
    response.headers["X-Consistency-Token"] = lsn
    return response


LOCK_PRODUCT = f"SELECT {COLUMNS} FROM products WHERE id = $1 FOR UPDATE"
UPDATE_PRICE = (
    "UPDATE products SET price = $2, version = version + 1, updated_at = now() "
    f"WHERE id = $1 RETURNING {COLUMNS}"
)


@app.patch("/baseline/products/{product_id}")
async def update(product_id: int, request: Request) -> Response:
    """The update twin: parse the JSON, one transaction locking the row, updating its price
    and recording the price point when it changed, commit, then the WAL position; 200 with
    the row."""
    price = Decimal(str(orjson.loads(await request.body())["price"]))
    async with request.app.state.writer.acquire() as conn:
        async with conn.transaction():
            current = await conn.fetchrow(LOCK_PRODUCT, product_id)
            if current is None:
                return _json({"detail": "not found"}, 404)
            row = await conn.fetchrow(UPDATE_PRICE, product_id, price)
            if row["price"] != current["price"]:
                await conn.execute(INSERT_PRICE, product_id, row["price"], row["currency"])
        lsn = await conn.fetchval("SELECT pg_current_wal_insert_lsn()::text")
    response = _json(dict(row))
    response.headers["X-Consistency-Token"] = lsn
    return response
