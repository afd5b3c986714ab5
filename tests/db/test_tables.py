"""The names the hand-written SQL uses (app.db.tables) are the models' (app.models), which
Alembic migrates. That serving imports no model: tests/test_startup_imports.py."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from app.db import tables
from app.models import PriceHistory, Product, RoutingOverride


def test_the_sql_names_are_the_models() -> None:
    assert Product.__tablename__ == tables.PRODUCTS
    assert PriceHistory.__tablename__ == tables.PRICE_HISTORY
    assert RoutingOverride.__tablename__ == tables.ROUTING_OVERRIDES
    product = cast(Table, Product.__table__)
    assert list(tables.PRODUCT_COLUMNS) == [column.name for column in product.columns]
