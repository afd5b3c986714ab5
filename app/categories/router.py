"""GET /api/categories: every category with its attribute JSON Schema and product count."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.responses import Response

from app.categories.registry import CATEGORIES
from app.dependencies import READ_ROUTE_OPENAPI, ReadSessionDep
from app.problems import problem_responses
from app.products.repository import counts_by_category
from app.responses import json_response

router = APIRouter(prefix="/api/categories", tags=["categories"], responses=problem_responses(429))


class CategoryOut(BaseModel):
    name: str
    title: str
    attributes_schema: dict[str, Any]
    product_count: int


@router.get(
    "",
    response_model=list[CategoryOut],
    responses=problem_responses(400, 503),
    openapi_extra=READ_ROUTE_OPENAPI,
)
async def list_categories(session: ReadSessionDep) -> Response:
    """All categories, their attribute schemas and how many products each has."""
    counts = await counts_by_category(session)
    return json_response(
        [
            {
                "name": c.name,
                "title": c.title,
                "attributes_schema": c.json_schema(),
                "product_count": counts.get(c.name, 0),
            }
            for c in CATEGORIES.values()
        ]
    )
