"""The category registry: adding a category is one module plus one line here."""

from app.categories import coins, games, mac, pokemon
from app.categories.base import Category

CATEGORIES: dict[str, Category] = {
    c.name: c
    for c in (
        mac.CATEGORY,
        pokemon.CATEGORY,
        coins.CATEGORY,
        games.CATEGORY,
    )
}


def get_category(name: str) -> Category | None:
    return CATEGORIES.get(name)


def category_names() -> list[str]:
    return list(CATEGORIES)
