"""create products and price history

Revision ID: fa3de114c765
Revises:
Create Date: 2026-11-23 08:19:04.697323+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "fa3de114c765"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), server_default=sa.text("'USD'"), nullable=False),
        sa.Column("in_stock", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_products_currency_iso4217")),
        sa.CheckConstraint("price >= 0", name=op.f("ck_products_price_non_negative")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_products_version_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
    )
    op.create_index(
        "ix_products_attributes",
        "products",
        ["attributes"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"attributes": "jsonb_path_ops"},
    )
    op.create_index("ix_products_category_id", "products", ["category", "id"], unique=False)
    op.create_index(
        "ix_products_category_name", "products", ["category", "name", "id"], unique=False
    )
    op.create_index(
        "ix_products_category_price", "products", ["category", "price", "id"], unique=False
    )
    op.create_index(
        "ix_products_category_updated_at",
        "products",
        ["category", "updated_at", "id"],
        unique=False,
    )
    op.create_index("ix_products_name", "products", ["name", "id"], unique=False)
    op.create_index("ix_products_price", "products", ["price", "id"], unique=False)
    op.create_index("ix_products_updated_at", "products", ["updated_at", "id"], unique=False)
    op.create_table(
        "price_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "observed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_price_history_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_history")),
    )
    op.create_index(
        "ix_price_history_product_observed",
        "price_history",
        ["product_id", "observed_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_price_history_product_observed", table_name="price_history")
    op.drop_table("price_history")
    op.drop_index("ix_products_updated_at", table_name="products")
    op.drop_index("ix_products_price", table_name="products")
    op.drop_index("ix_products_name", table_name="products")
    op.drop_index("ix_products_category_updated_at", table_name="products")
    op.drop_index("ix_products_category_price", table_name="products")
    op.drop_index("ix_products_category_name", table_name="products")
    op.drop_index("ix_products_category_id", table_name="products")
    op.drop_index(
        "ix_products_attributes",
        table_name="products",
        postgresql_using="gin",
        postgresql_ops={"attributes": "jsonb_path_ops"},
    )
    op.drop_table("products")
