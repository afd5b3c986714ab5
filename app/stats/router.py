"""GET /api/stats: product counts per category, newest change and schema revision.

What `trackr monitor` compares across backends to tell when their data has drifted apart.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from app.categories.registry import CATEGORIES
from app.dependencies import READ_ROUTE_OPENAPI, ReadSessionDep
from app.problems import problem_responses
from app.responses import json_response
from app.stats.repository import newest, products_by_category, schema_revision
from app.stats.schemas import StatsOut

router = APIRouter(prefix="/api/stats", tags=["stats"], responses=problem_responses(429))


@router.get(
    "",
    response_model=StatsOut,
    responses=problem_responses(400, 503),
    openapi_extra=READ_ROUTE_OPENAPI,
)
async def stats(session: ReadSessionDep) -> Response:
    """Counts per category (every category, zeros included), newest update, Alembic revision."""
    rows = await products_by_category(session)
    counts = dict.fromkeys(CATEGORIES, 0)
    counts.update({row["category"]: int(row["count"]) for row in rows})
    return json_response(
        {
            "schema_revision": await schema_revision(session),
            "product_count": sum(counts.values()),
            "products_by_category": counts,
            "last_updated_at": newest(rows),
        }
    )
