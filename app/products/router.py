"""HTTP endpoints of /api/products. Thin: parse, call the service, shape the response."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, status
from starlette.responses import Response

from app.auth import WriterDep
from app.dependencies import READ_ROUTE_OPENAPI, ReadSessionDep, WriteSessionDep
from app.errors import PreconditionFailed
from app.idempotency.dependency import IdempotencyDep
from app.problems import problem_responses
from app.products import service
from app.products.query import (
    MAX_PRODUCT_ID,
    MIN_PRODUCT_ID,
    ListParams,
    ListQuery,
    parse_list,
)
from app.products.schemas import (
    PriceHistoryOut,
    ProductCreate,
    ProductOut,
    ProductPage,
    ProductUpdate,
)
from app.responses import json_response, names_etag

router = APIRouter(prefix="/api/products", tags=["products"], responses=problem_responses(429))

ProductId = Annotated[int, Path(ge=MIN_PRODUCT_ID, le=MAX_PRODUCT_ID, description="Product id")]
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: `If-None-Match` names the current version"}
}
READ_PROBLEMS = problem_responses(400, 404, 422, 503)
LIST_PROBLEMS = problem_responses(400, 422, 503)
CREATE_PROBLEMS = problem_responses(400, 401, 403, 409, 413, 422, 503)
UPDATE_PROBLEMS = problem_responses(400, 401, 403, 404, 409, 412, 413, 422, 503)
DELETE_PROBLEMS = problem_responses(401, 403, 404, 409, 422, 503)


def etag(row: Mapping[Any, Any]) -> str:
    return f'"{row["version"]}"'


def _product_headers(row: Mapping[Any, Any]) -> dict[str, str]:
    return {"ETag": etag(row)}


IF_MATCH = re.compile(r'^(\*|(W/)?"?([0-9]+)"?)$')
IfMatch = Annotated[
    str | None,
    Header(
        description="Update only this version: the `ETag` a read returned (`*`: any)",
        json_schema_extra={"pattern": IF_MATCH.pattern},
    ),
]


def _expected_version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    match = IF_MATCH.match(if_match.strip())
    if match is None:
        raise PreconditionFailed(f"If-Match {if_match!r} is not an ETag this API issued")
    return int(match[3]) if match[3] is not None else None  # `*`: any version


async def list_query(request: Request, params: Annotated[ListParams, Query()]) -> ListQuery:
    """The list's parameters, `attr.<key>=<value>` filters (repeatable, need `category`,
    typed by its schema) included."""
    return parse_list(params, request.query_params.multi_items())


@router.get(
    "", response_model=ProductPage, responses=LIST_PROBLEMS, openapi_extra=READ_ROUTE_OPENAPI
)
async def list_products(
    session: ReadSessionDep,
    query: Annotated[ListQuery, Depends(list_query)],
) -> Response:
    """List products with filters, a sort order and keyset pagination."""
    return page_response(*await service.list_products(session, query))


def page_response(rows: Sequence[Mapping[Any, Any]], next_cursor: str | None) -> Response:
    return json_response({"items": [dict(r) for r in rows], "next_cursor": next_cursor})


@router.get(
    "/{product_id}",
    response_model=ProductOut,
    responses={**NOT_MODIFIED, **READ_PROBLEMS},
    openapi_extra=READ_ROUTE_OPENAPI,
)
async def get_product(
    product_id: ProductId,
    session: ReadSessionDep,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """One product; `ETag` carries its version (send `If-None-Match` for a 304)."""
    row = await service.get_product(session, product_id)
    return product_response(row, if_none_match)


def product_response(row: Mapping[Any, Any], if_none_match: str | None) -> Response:
    """The product with its `ETag`, or 304 when `If-None-Match` names that version."""
    headers = _product_headers(row)
    if names_etag(if_none_match, headers["ETag"]):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return json_response(dict(row), headers=headers)


@router.get(
    "/{product_id}/prices",
    response_model=PriceHistoryOut,
    responses=READ_PROBLEMS,
    openapi_extra=READ_ROUTE_OPENAPI,
)
async def get_price_history(
    product_id: ProductId,
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """The product's price history, newest first."""
    points = await service.price_history(session, product_id, limit)
    return json_response({"product_id": product_id, "items": [dict(p) for p in points]})


@router.post("", response_model=ProductOut, status_code=201, responses=CREATE_PROBLEMS)
async def create_product(
    _: WriterDep,
    request: Request,
    session: WriteSessionDep,
    idempotency: IdempotencyDep,
    data: Annotated[ProductCreate, Body()],
) -> Response:
    """Create a product (scope `products:write`); its first price-history point is recorded.

    Send an `Idempotency-Key` to make retries safe: a repeat returns the first response."""
    if replayed := await idempotency.replay(request, lambda: data.model_dump(mode="json")):
        return replayed
    row = await service.create_product(session, data)
    # The request's own path (the route's, under any root path): `request.url` would build
    # and parse a whole URL for it.
    headers = {**_product_headers(row), "Location": f"{request.scope['path']}/{row['id']}"}
    return await idempotency.remember(json_response(dict(row), status_code=201, headers=headers))


@router.patch("/{product_id}", response_model=ProductOut, responses=UPDATE_PROBLEMS)
async def update_product(
    _: WriterDep,
    request: Request,
    product_id: ProductId,
    session: WriteSessionDep,
    idempotency: IdempotencyDep,
    data: Annotated[ProductUpdate, Body()],
    if_match: IfMatch = None,
) -> Response:
    """Partially update a product; attributes are merged then re-validated. Honours If-Match
    and `Idempotency-Key`."""

    def fingerprinted() -> dict[str, Any]:
        return {"patch": data.model_dump(mode="json", exclude_unset=True), "if_match": if_match}

    if replayed := await idempotency.replay(request, fingerprinted):
        return replayed
    row = await service.update_product(session, product_id, data, _expected_version(if_match))
    return await idempotency.remember(json_response(dict(row), headers=_product_headers(row)))


@router.delete("/{product_id}", status_code=204, responses=DELETE_PROBLEMS)
async def delete_product(
    _: WriterDep,
    request: Request,
    product_id: ProductId,
    session: WriteSessionDep,
    idempotency: IdempotencyDep,
) -> Response:
    """Delete a product and its price history. With an `Idempotency-Key`, a retry of a delete
    that succeeded returns 204 again instead of 404."""
    if replayed := await idempotency.replay(request):
        return replayed
    await service.delete_product(session, product_id)
    return await idempotency.remember(Response(status_code=204))
