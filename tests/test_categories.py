"""Category attribute schemas (no database)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from app.categories import CATEGORIES, get_category


def valid(name: str, attrs: dict[str, Any]) -> dict[str, Any]:
    category = get_category(name)
    assert category is not None
    return category.validate(attrs)


def invalid(name: str, attrs: dict[str, Any]) -> list[str]:
    category = get_category(name)
    assert category is not None
    with pytest.raises(ValidationError) as caught:
        category.validate(attrs)
    return [str(e["type"]) for e in caught.value.errors()]


def test_registry_has_the_four_categories() -> None:
    assert set(CATEGORIES) == {"mac", "pokemon", "coins", "games"}
    for category in CATEGORIES.values():
        schema = category.json_schema()
        assert schema["additionalProperties"] is False


def test_mac() -> None:
    assert valid("mac", {"model": "Air", "chip": "M2 Pro", "ram_gb": 16}) == {
        "model": "Air", "chip": "M2 Pro", "ram_gb": 16}  # fmt: skip
    assert "missing" in invalid("mac", {"model": "Air"})
    assert "literal_error" in invalid("mac", {"model": "Air", "chip": "M1", "condition": "mint"})


def test_pokemon_grade_required_when_graded() -> None:
    assert valid("pokemon", {"card_number": "4/102"})["language"] == "EN"
    assert invalid("pokemon", {"card_number": "4/102", "graded": True}) == ["value_error"]
    assert valid("pokemon", {"card_number": "4", "graded": True, "grade": 9.5, "grader": "BGS"})
    assert "less_than_equal" in invalid("pokemon", {"card_number": "4", "grade": 11})
    assert "literal_error" in invalid("pokemon", {"card_number": "4", "grader": "ABC"})


def test_coins_and_games() -> None:
    assert valid("coins", {"denomination": "1 oz", "metal": "gold"})
    assert "literal_error" in invalid("coins", {"denomination": "1 oz", "metal": "tin"})
    assert valid("games", {"platform": "SNES", "region": "PAL", "condition": "cib"})
    assert "literal_error" in invalid("games", {"platform": "SNES", "region": "EU"})


def test_unknown_keys_are_rejected() -> None:
    assert invalid("games", {"platform": "SNES", "platfrom": "typo"}) == ["extra_forbidden"]


def test_filter_values_are_typed_by_the_schema() -> None:
    mac = get_category("mac")
    assert mac is not None
    assert mac.parse_filter_value("ram_gb", "16") == 16
    assert mac.parse_filter_value("screen_inches", "14.2") == 14.2
    pokemon = get_category("pokemon")
    assert pokemon is not None
    assert pokemon.parse_filter_value("graded", "true") is True
    with pytest.raises(ValidationError):
        mac.parse_filter_value("ram_gb", "sixteen")
