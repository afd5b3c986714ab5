"""Realistic demo data over every category, with price history (for `make run`)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.session import WriteSession
from app.products import service
from app.products.schemas import ProductCreate

MACS = [
    ("MacBook Air 13", "M1", 2020, 8, 256, 13.3),
    ("MacBook Air 13", "M2", 2022, 8, 256, 13.6),
    ("MacBook Air 15", "M3", 2024, 16, 512, 15.3),
    ("MacBook Pro 14", "M2 Pro", 2023, 16, 512, 14.2),
    ("MacBook Pro 14", "M3 Max", 2023, 36, 1024, 14.2),
    ("MacBook Pro 16", "M1 Max", 2021, 32, 1024, 16.2),
    ("Mac mini", "M2", 2023, 8, 256, None),
    ("Mac mini", "M4 Pro", 2024, 24, 512, None),
    ("Mac Studio", "M2 Ultra", 2023, 64, 1024, None),
    ("iMac 24", "M3", 2023, 8, 256, 24.0),
    ("MacBook Pro 13", "M1", 2020, 16, 512, 13.3),
    ("Mac Pro", "M2 Ultra", 2023, 192, 2048, None),
]
POKEMON = [
    ("Charizard", "Base Set", "4/102", "Holo Rare", True, 9, "PSA"),
    ("Blastoise", "Base Set", "2/102", "Holo Rare", True, 8, "BGS"),
    ("Pikachu Illustrator", "Promo", "PROMO-1", "Promo", True, 7, "PSA"),
    ("Lugia", "Neo Genesis", "9/111", "Holo Rare", False, None, None),
    ("Umbreon VMAX", "Evolving Skies", "215/203", "Secret Rare", True, 10, "CGC"),
    ("Mewtwo", "Base Set", "10/102", "Holo Rare", False, None, None),
    ("Rayquaza Gold Star", "EX Deoxys", "107/107", "Gold Star", True, 9, "PSA"),
    ("Gengar", "Fossil", "5/62", "Holo Rare", False, None, None),
    ("Pikachu VMAX", "Vivid Voltage", "188/185", "Secret Rare", True, 10, "PSA"),
    ("Snorlax", "Jungle", "11/64", "Holo Rare", False, None, None),
]
COINS = [
    ("American Gold Eagle", "USA", 2023, "1 oz $50", "gold", 33.93, "MS-70", None),
    ("American Silver Eagle", "USA", 2021, "1 oz $1", "silver", 31.1, "MS-69", "W"),
    ("Krugerrand", "South Africa", 2022, "1 oz", "gold", 33.93, None, None),
    ("Maple Leaf", "Canada", 2023, "1 oz $5", "silver", 31.1, None, None),
    ("Britannia", "United Kingdom", 2024, "1 oz £2", "silver", 31.1, None, None),
    ("Morgan Dollar", "USA", 1921, "$1", "silver", 26.73, "MS-64", "D"),
    ("Platinum Eagle", "USA", 2022, "1 oz $100", "platinum", 31.1, "PF-70", "W"),
    ("Vienna Philharmonic", "Austria", 2023, "1 oz €100", "gold", 31.1, None, None),
    ("Lincoln Wheat Cent", "USA", 1909, "1 cent", "copper", 3.11, "VF-20", "S"),
    ("Jefferson Nickel", "USA", 1950, "5 cents", "nickel", 5.0, "MS-65", "D"),
]
GAMES = [
    ("Chrono Trigger", "SNES", "NTSC-U", "cib", None, 1995),
    ("EarthBound", "SNES", "NTSC-U", "loose", None, 1995),
    ("The Legend of Zelda: Ocarina of Time", "N64", "PAL", "cib", "Collector's Edition", 1998),
    ("Pokémon Red", "Game Boy", "NTSC-U", "loose", None, 1998),
    ("Final Fantasy VII", "PlayStation", "NTSC-J", "cib", None, 1997),
    ("Super Mario 64", "N64", "NTSC-U", "new", None, 1996),
    ("Metal Gear Solid", "PlayStation", "PAL", "cib", "Premium Package", 1998),
    ("Panzer Dragoon Saga", "Saturn", "NTSC-U", "cib", None, 1998),
    ("Elden Ring", "PS5", "region-free", "new", "Launch Edition", 2022),
    ("Halo 3", "Xbox 360", "PAL", "cib", "Legendary Edition", 2007),
    ("Tetris", "Game Boy", "NTSC-J", "loose", None, 1989),
]


def demo_products(rng: random.Random) -> list[ProductCreate]:
    items: list[dict[str, Any]] = []
    for model, chip, year, ram, storage, screen in MACS:
        attrs: dict[str, Any] = {
            "model": model,
            "chip": chip,
            "year": year,
            "ram_gb": ram,
            "storage_gb": storage,
            "condition": rng.choice(["new", "refurbished", "used"]),
        }
        if screen:
            attrs["screen_inches"] = screen
        items.append(
            {
                "category": "mac",
                "name": f"{model} ({chip}, {year})",
                "price": 300 + ram * 40 + storage * 0.6,
                "attributes": attrs,
            }
        )
    for name, set_name, number, rarity, graded, grade, grader in POKEMON:
        attrs = {"set_name": set_name, "card_number": number, "rarity": rarity, "graded": graded}
        if graded:
            attrs |= {"grade": grade, "grader": grader}
        items.append(
            {
                "category": "pokemon",
                "name": f"{name} {set_name} {number}",
                "price": rng.uniform(20, 5000),
                "attributes": attrs,
            }
        )
    for name, country, year, denomination, metal, weight, coin_grade, mint in COINS:
        attrs = {
            "country": country,
            "year": year,
            "denomination": denomination,
            "metal": metal,
            "weight_g": weight,
            "grade": coin_grade,
            "mint_mark": mint,
        }
        items.append(
            {
                "category": "coins",
                "name": f"{year} {name}",
                "price": rng.uniform(1, 2500),
                "attributes": {k: v for k, v in attrs.items() if v is not None},
            }
        )
    for title, platform, region, condition, edition, year in GAMES:
        attrs = {
            "platform": platform,
            "region": region,
            "condition": condition,
            "edition": edition,
            "release_year": year,
        }
        items.append(
            {
                "category": "games",
                "name": f"{title} ({platform})",
                "price": rng.uniform(5, 900),
                "attributes": {k: v for k, v in attrs.items() if v is not None},
            }
        )
    return [
        ProductCreate.model_validate(
            {
                **item,
                "price": Decimal(str(round(item["price"], 2))),
                "url": f"https://shop.example.com/{item['category']}/{index}",
                "in_stock": rng.random() > 0.2,
            }
        )
        for index, item in enumerate(items, start=1)
    ]


HISTORY_POINT = (
    "INSERT INTO price_history (product_id, price, currency, observed_at) VALUES ($1, $2, $3, $4)"
)


async def seed(engine: AsyncEngine, *, history_points: int = 6, random_seed: int = 7) -> int:
    """Insert the demo catalogue when the products table is empty. Returns rows inserted."""
    rng = random.Random(random_seed)
    async with engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        async with driver.transaction():
            if await driver.fetchval("SELECT count(*) FROM products"):
                return 0
            session = WriteSession.on(driver)
            now = datetime.now(UTC)
            created = 0
            for data in demo_products(rng):
                row = await service.create_product(session, data)
                created += 1
                # Older observations, so every demo product shows a price trend.
                factors = [Decimal(str(rng.uniform(0.85, 1.2))) for _ in range(history_points - 1)]
                points = [
                    (row["id"], (row["price"] * factor).quantize(Decimal("0.01")), row["currency"],
                     now - timedelta(days=7 * week))
                    for week, factor in zip(range(history_points - 1, 0, -1), factors, strict=True)
                ]  # fmt: skip
                await driver.executemany(HISTORY_POINT, points)
        return created
