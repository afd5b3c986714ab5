from typing import Literal

from pydantic import Field

from app.categories.base import Attributes, Category


class MacAttributes(Attributes):
    model: str = Field(min_length=1, max_length=100, examples=["MacBook Pro 14"])
    chip: str = Field(min_length=1, max_length=50, examples=["M2 Pro"])
    year: int | None = Field(None, ge=1984, le=2100)
    ram_gb: int | None = Field(None, ge=1, le=4096)
    storage_gb: int | None = Field(None, ge=1, le=65536)
    screen_inches: float | None = Field(None, gt=0, le=50)
    condition: Literal["new", "refurbished", "used"] | None = None


CATEGORY = Category("mac", "Apple Mac computers", MacAttributes)
