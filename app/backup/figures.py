"""The figures a restore must reproduce: what `trackr backup verify` compares."""

from __future__ import annotations

ABSENT = "absent"
# What a restore must hold: each figure's table and its query. A figure whose table is
# missing reads as absent (asked first: a query naming a missing table fails before any CASE
# could spare it), so a backup that lost a table is reported as different, not as an error.
FIGURES = {
    "schema revision": (
        "alembic_version",
        "SELECT coalesce(string_agg(version_num, ','), 'none') FROM alembic_version",
    ),
    "products per category": (
        "products",
        "SELECT coalesce(string_agg(category || '=' || n, ' ' ORDER BY category), 'none') FROM "
        "(SELECT category, count(*) AS n FROM products GROUP BY category) c",
    ),
    "newest change": ("products", "SELECT coalesce(max(updated_at)::text, 'none') FROM products"),
    "content fingerprint": (
        "products",
        "SELECT coalesce(sum(hashtextextended(id || ':' || version || ':' || price, 0))::text, "
        "'none') FROM products",
    ),
}
TABLES_PRESENT = (
    "SELECT coalesce(string_agg(relname, ','), '') FROM pg_class WHERE relkind IN ('r', 'p') "
    "AND pg_table_is_visible(oid) AND relname IN ("
    + ", ".join(sorted({f"'{table}'" for table, _ in FIGURES.values()}))
    + ")"
)


def figure_queries(tables_present: str) -> dict[str, str | None]:
    """Each figure's query, or None where its table is absent (`tables_present`: what
    TABLES_PRESENT returned)."""
    present = set(tables_present.split(","))
    return {name: query if table in present else None for name, (table, query) in FIGURES.items()}


def differences(expected: dict[str, str], restored: dict[str, str], source: str) -> list[str]:
    """Each figure the restore does not reproduce, as a line naming both values."""
    return [
        f"{name}: restored {restored.get(name)!r}, {source} {value!r}"
        for name, value in expected.items()
        if restored.get(name) != value
    ]
