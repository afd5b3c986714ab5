"""routing overrides

Revision ID: edee3f836b92
Revises: fa3de114c765
Create Date: 2026-11-23 08:42:07.372559+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "edee3f836b92"
down_revision: str | None = "fa3de114c765"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "routing_overrides",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("read_balancing", sa.String(length=20), nullable=True),
        sa.Column(
            "drained", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("updated_by", sa.Text(), nullable=True),
        sa.CheckConstraint("id = 1", name=op.f("ck_routing_overrides_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_overrides")),
    )


def downgrade() -> None:
    op.drop_table("routing_overrides")
