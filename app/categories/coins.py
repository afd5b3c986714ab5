from typing import Literal

from pydantic import Field

from app.categories.base import Attributes, Category


class CoinAttributes(Attributes):
    country: str | None = Field(None, min_length=1, max_length=100)
    year: int | None = Field(None, ge=-1000, le=2100)
    denomination: str = Field(min_length=1, max_length=50, examples=["1 oz", "50 cents"])
    metal: (
        Literal["gold", "silver", "platinum", "palladium", "copper", "nickel", "other"] | None
    ) = None
    weight_g: float | None = Field(None, gt=0, le=100_000)
    grade: str | None = Field(None, max_length=20, examples=["MS-65"])
    mint_mark: str | None = Field(None, max_length=10)


CATEGORY = Category("coins", "Coins and bullion", CoinAttributes)
