"""backup_events: what the backup jobs did, for /health and /metrics on every API node

`trackr backup create` and `trackr backup verify` add a row on the primary when they end,
failed or not; it replicates, so any API node reads the age of the last good backup and
verify without reaching the backup repository.

Revision ID: b4e8d2f61a37
Revises: 7d3f9b2c1e44
Create Date: 2026-12-02 20:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "b4e8d2f61a37"
down_revision: str | None = "7d3f9b2c1e44"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "backup_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("backup_id", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column(
            "finished_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('backup', 'verify')", name=op.f("ck_backup_events_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backup_events")),
    )
    op.create_index("ix_backup_events_kind_finished_at", "backup_events", ["kind", "finished_at"])


def downgrade() -> None:
    op.drop_index("ix_backup_events_kind_finished_at", table_name="backup_events")
    op.drop_table("backup_events")
