"""NOTIFY trackr_products on TRUNCATE of products too

The row-level changes already notify (revision 7d3f9b2c1e44); a TRUNCATE fires no row or
transition-table trigger, so it gets its own statement trigger saying `*` (every product).
With it, every change to `products` reaches the read caches, which keep a product's entry for
as long as their channel vouches that nothing changed it (app/cache/store.py).

Revision ID: c9a4e17d3b58
Revises: b4e8d2f61a37
Create Date: 2026-12-04 21:00:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c9a4e17d3b58"
down_revision: str | None = "b4e8d2f61a37"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "trackr_products"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE FUNCTION notify_products_truncated() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', '*');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER products_notify_truncate AFTER TRUNCATE ON products "
        "FOR EACH STATEMENT EXECUTE FUNCTION notify_products_truncated()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER products_notify_truncate ON products")
    op.execute("DROP FUNCTION notify_products_truncated()")
