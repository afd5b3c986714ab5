"""finer statistics for products.attributes

PostgreSQL estimates `attributes @> '{...}'` by testing the filter against the column's
sampled values (most-common values and histogram). With the default 100-entry sample a
two-key filter matching 0.5% of a million rows was estimated at 25 rows, so the planner took
every GIN match and sorted it (77 ms, growing with the table) instead of walking
(category, id) and stopping after one page (3 ms). A 1000-entry sample brings the estimate
within range of the real count (docs/performance-notes.md, step 8), for about 0.2 ms more
planning on an attribute-filtered list.

Revision ID: 5b7e2c4d9a10
Revises: 3c1d7a9e5b20
Create Date: 2026-11-23 19:00:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5b7e2c4d9a10"
down_revision: str | None = "3c1d7a9e5b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ATTRIBUTES_STATISTICS_TARGET = 1000


def upgrade() -> None:
    op.execute(
        "ALTER TABLE products ALTER COLUMN attributes "
        f"SET STATISTICS {ATTRIBUTES_STATISTICS_TARGET}"
    )
    op.execute("ANALYZE products (attributes)")


def downgrade() -> None:
    op.execute("ALTER TABLE products ALTER COLUMN attributes SET STATISTICS -1")
