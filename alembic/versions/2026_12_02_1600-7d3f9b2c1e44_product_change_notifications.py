"""NOTIFY trackr_products on every change to products, for the API nodes' read caches

One notification per statement (statement-level triggers with transition tables, so a bulk
load is not a notification per row), delivered only when the transaction commits: the
payload is the changed ids, comma-separated, or `*` past 100 of them. Every API process
LISTENs on the primary and drops what it cached for those ids (app/cache/listener.py).

Revision ID: 7d3f9b2c1e44
Revises: 5b7e2c4d9a10
Create Date: 2026-12-02 16:00:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "7d3f9b2c1e44"
down_revision: str | None = "5b7e2c4d9a10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "trackr_products"
MAX_IDS = 100
# PostgreSQL allows a transition table only on a trigger with one event: three triggers, one
# function, each naming its table `changed`.
EVENTS = {"insert": "NEW", "update": "NEW", "delete": "OLD"}


def upgrade() -> None:
    op.execute(
        f"""
        CREATE FUNCTION notify_product_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE
            changed_count bigint;
            ids text;
        BEGIN
            SELECT count(*), string_agg(id::text, ',') INTO changed_count, ids
            FROM (SELECT id FROM changed LIMIT {MAX_IDS + 1}) AS first_ids;
            IF changed_count > 0 THEN
                PERFORM pg_notify('{CHANNEL}',
                                  CASE WHEN changed_count > {MAX_IDS} THEN '*' ELSE ids END);
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    for event, table in EVENTS.items():
        op.execute(
            f"CREATE TRIGGER products_notify_{event} AFTER {event.upper()} ON products "
            f"REFERENCING {table} TABLE AS changed "
            "FOR EACH STATEMENT EXECUTE FUNCTION notify_product_change()"
        )


def downgrade() -> None:
    for event in EVENTS:
        op.execute(f"DROP TRIGGER products_notify_{event} ON products")
    op.execute("DROP FUNCTION notify_product_change()")
