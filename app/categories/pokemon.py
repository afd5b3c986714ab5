from typing import Literal, Self

from pydantic import Field, model_validator

from app.categories.base import Attributes, Category


class PokemonAttributes(Attributes):
    set_name: str | None = Field(None, min_length=1, max_length=100, examples=["Base Set"])
    card_number: str = Field(min_length=1, max_length=20, examples=["4/102"])
    rarity: str | None = Field(None, max_length=50)
    language: str = Field("EN", min_length=2, max_length=5)
    graded: bool = False
    grade: float | None = Field(None, ge=1, le=10)
    grader: Literal["PSA", "BGS", "CGC"] | None = None

    @model_validator(mode="after")
    def _grade_when_graded(self) -> Self:
        if self.graded and self.grade is None:
            raise ValueError("grade is required when graded is true")
        return self


CATEGORY = Category("pokemon", "Pokémon trading cards", PokemonAttributes)
