"""The schema's names as trackr's hand-written SQL spells them: plain strings, so that serving
imports no ORM model (declaring them cost each process start 13-22 ms). The models
(app.models) stay the schema's definition for Alembic; tests/db/test_tables.py checks these
names against them."""

PRODUCTS = "products"
PRICE_HISTORY = "price_history"
ROUTING_OVERRIDES = "routing_overrides"
# Every column of a product, in the order reads return them.
PRODUCT_COLUMNS = (
    "id",
    "category",
    "name",
    "url",
    "price",
    "currency",
    "in_stock",
    "attributes",
    "created_at",
    "updated_at",
    "version",
)
