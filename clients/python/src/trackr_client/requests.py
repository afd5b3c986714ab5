"""The product API as transport-free requests: what to send and how to read the answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx

from trackr_client.models import PriceHistory, Product, ProductPage
from trackr_client.policy import Call, keyed

T = TypeVar("T")


@dataclass(frozen=True)
class Request(Generic[T]):
    call: Call
    parse: Callable[[httpx.Response], T]


def _product(response: httpx.Response) -> Product:
    return Product.model_validate_json(response.content)


def _nothing(_: httpx.Response) -> None:
    return None


def get_product(product_id: int) -> Request[Product]:
    return Request(Call("GET", f"/api/products/{product_id}"), _product)


def list_products(
    category: str | None = None,
    *,
    attributes: dict[str, Any] | None = None,
    sort: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
    **filters: Any,
) -> Request[ProductPage]:
    params: dict[str, Any] = {
        "category": category, "sort": sort, "limit": limit, "cursor": cursor, **filters
    }  # fmt: skip
    for key, value in (attributes or {}).items():
        params[f"attr.{key}"] = str(value).lower() if isinstance(value, bool) else value
    clean = {k: v for k, v in params.items() if v is not None}
    return Request(
        Call("GET", "/api/products", params=clean),
        lambda r: ProductPage.model_validate_json(r.content),
    )


def price_history(product_id: int, limit: int | None = None) -> Request[PriceHistory]:
    params = {"limit": limit} if limit is not None else None
    return Request(
        Call("GET", f"/api/products/{product_id}/prices", params=params),
        lambda r: PriceHistory.model_validate_json(r.content),
    )


def create_product(product: dict[str, Any], idempotency_key: str | None) -> Request[Product]:
    headers = keyed(idempotency_key)
    return Request(Call("POST", "/api/products", json=product, headers=headers), _product)


def update_product(
    product_id: int,
    patch: dict[str, Any],
    if_match: int | None,
    idempotency_key: str | None,
) -> Request[Product]:
    headers = keyed(idempotency_key)
    if if_match is not None:
        headers["If-Match"] = f'"{if_match}"'
    return Request(
        Call("PATCH", f"/api/products/{product_id}", json=patch, headers=headers), _product
    )


def delete_product(product_id: int, idempotency_key: str | None) -> Request[None]:
    call = Call("DELETE", f"/api/products/{product_id}", headers=keyed(idempotency_key))
    return Request(call, _nothing)


def health() -> Request[dict[str, Any]]:
    return Request(Call("GET", "/health"), lambda r: dict(r.json()))
