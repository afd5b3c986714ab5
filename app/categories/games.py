from typing import Literal

from pydantic import Field

from app.categories.base import Attributes, Category


class GameAttributes(Attributes):
    platform: str = Field(min_length=1, max_length=50, examples=["SNES"])
    region: Literal["NTSC-U", "PAL", "NTSC-J", "region-free"] | None = None
    condition: Literal["new", "cib", "loose"] | None = None
    edition: str | None = Field(None, max_length=100)
    release_year: int | None = Field(None, ge=1950, le=2100)


CATEGORY = Category("games", "Video games", GameAttributes)
