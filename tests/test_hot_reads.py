"""The hot reads (app/products/hot.py) answer exactly as the FastAPI routes they shortcut.

Every request is sent to the app as it runs and to the same app without the hot path, on the
same real primary + replica; status, headers and body must match. A second test pins which
requests the hot path takes, so the comparison cannot pass by both sides being FastAPI.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import asyncpg
import pytest
from fastapi import APIRouter, Header
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.requests import Request

from app.config import Settings
from app.dependencies import ReadSessionDep
from app.errors import ServiceUnavailable
from app.localcluster import Cluster
from app.main import create_app
from app.products import service
from app.products.hot import HotReadsMiddleware, _recognise, verify_routes
from app.products.hot_writes import verify_write_routes
from app.products.router import get_product, list_products
from app.products.router import router as products_router
from tests.support import with_and_without
from tests.test_products_api import create

# Headers that differ between any two requests, whoever serves them.
PER_REQUEST = {"x-request-id", "x-served-by", "date"}


@pytest.fixture
def both(settings: Settings, clean_db: Cluster) -> Iterator[tuple[TestClient, TestClient]]:
    with with_and_without(settings, HotReadsMiddleware) as clients:
        yield clients


def _seen(response: Any) -> tuple[int, dict[str, str], bytes]:
    headers = {k: v for k, v in response.headers.items() if k not in PER_REQUEST}
    return response.status_code, headers, response.content


def _requests(product: dict[str, Any], cursor: str) -> list[tuple[str, dict[str, str]]]:
    pid = product["id"]
    token = {"X-Consistency-Token": product["_token"]}
    etag = f'"{product["version"]}"'
    return [
        (f"/api/products/{pid}", token),
        (f"/api/products/{pid}", {**token, "If-None-Match": etag}),
        (f"/api/products/{pid}", {**token, "If-None-Match": f'"999", {etag}'}),
        (f"/api/products/{pid}", {**token, "If-None-Match": '"999"'}),
        (f"/api/products/{pid}", {"X-Consistency-Token": "not-a-token"}),
        ("/api/products/999999", {}),
        (f"/api/products/{2**63 - 1}", {}),
        (f"/api/products/{2**63}", {}),
        ("/api/products/0", {}),
        ("/api/products/-1", {}),
        ("/api/products/007", {}),
        ("/api/products/abc", {}),
        ("/api/products", token),
        ("/api/products?category=mac&limit=1", token),
        (f"/api/products?category=mac&limit=1&cursor={cursor}", token),
        ("/api/products?category=mac&sort=-price&limit=100", token),
        ("/api/products?category=mac&attr.ram_gb=16&attr.chip=M2%20Pro", token),
        ("/api/products?category=mac&q=macbook", token),
        ("/api/products?category=mac&attr.ram_gb=lots", {}),
        ("/api/products?category=mac&attr.colour=red", {}),
        ("/api/products?category=mac&attr.ram_gb=16&attr.ram_gb=32", {}),
        ("/api/products?attr.ram_gb=16", {}),
        ("/api/products?category=plants", {}),
        ("/api/products?category=&q=", {}),
        ("/api/products?category=mac&q=a%00b", {}),
        ("/api/products?q=" + "x" * 201, {}),
        ("/api/products?sort=colour", {}),
        ("/api/products?sort=id&sort=price", {}),
        ("/api/products?limit=0", {}),
        ("/api/products?limit=101", {}),
        ("/api/products?limit=020", {}),
        ("/api/products?limit=ten", {}),
        ("/api/products?cursor=garbage", {}),
        ("/api/products?cursor=" + "x" * 1001, {}),
        ("/api/products?min_price=1&in_stock=true", token),
        ("/api/products?colour=red", {}),
        ("/api/products", {"X-Consistency-Token": "0/zz"}),
    ]


def test_hot_reads_answer_as_the_routes_do(
    both: tuple[TestClient, TestClient], auth: dict[str, str]
) -> None:
    hot, fastapi = both
    product = create(hot, auth)
    create(hot, auth, name="MacBook Air", price=999.0)
    first = hot.get(
        "/api/products?category=mac&limit=1", headers={"X-Consistency-Token": product["_token"]}
    )
    cursor = first.json()["next_cursor"]
    assert cursor
    for path, headers in _requests(product, cursor):
        ours, theirs = hot.get(path, headers=headers), fastapi.get(path, headers=headers)
        assert _seen(ours) == _seen(theirs), path
        assert ours.status_code < 500, path
        assert "x-served-by" in ours.headers or ours.status_code >= 400, path


@pytest.mark.parametrize(
    "failure",
    [
        RuntimeError("a bug"),
        ServiceUnavailable("the primary is away", retry_after_seconds=3),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
    ],
    ids=["bug", "app-error", "driver-error"],
)
def test_failures_are_rendered_as_the_routes_render_them(
    both: tuple[TestClient, TestClient], monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    async def failing(*_: object) -> None:
        raise failure

    monkeypatch.setattr(service, "get_product", failing)
    monkeypatch.setattr(service, "list_products", failing)
    hot, fastapi = both
    for path in ("/api/products/1", "/api/products?category=mac"):
        ours, theirs = hot.get(path), fastapi.get(path)
        assert _seen(ours) == _seen(theirs), path
        assert ours.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("path", "query", "taken"),
    [
        ("/api/products/1", b"", True),
        (f"/api/products/{2**63 - 1}", b"", True),
        (f"/api/products/{2**63}", b"", False),
        ("/api/products/0", b"", False),
        ("/api/products/01", b"", False),
        ("/api/products/1/prices", b"", False),
        ("/api/products", b"", True),
        ("/api/products", b"category=mac&attr.ram_gb=16&sort=price&limit=100&q=air", True),
        ("/api/products", b"category=mac&attr.ram_gb=lots", True),  # parse_list decides
        ("/api/products", b"colour=red", True),  # parse_list names the unknown parameter
        ("/api/products", b"limit=101", False),
        ("/api/products", b"sort=colour", False),
        ("/api/products", b"min_price=1&max_price=2.5&in_stock=false", True),
        ("/api/products", b"min_price=-1", False),
        ("/api/products", b"category=mac&category=games", True),  # the last one, as FastAPI
        ("/api/products/", b"", False),
        ("/api/categories", b"", False),
    ],
)
def test_which_requests_take_the_hot_path(path: str, query: bytes, taken: bool) -> None:
    request = Request({"type": "http", "path": path, "query_string": query, "headers": []})
    assert (_recognise(request)[1] is not None) is taken


def test_a_hot_route_whose_inputs_changed_fails_the_check() -> None:
    """A dependency, header or parameter added to a hot route would be bypassed by the fast
    path: this fails on one (here: each hot route with one more header)."""
    routes = create_app(Settings(app_env="test")).routes
    verify_routes(routes)  # today's routes pass, the writes' too
    verify_write_routes(routes)

    async def stricter(
        product_id: int, session: ReadSessionDep, x_tenant: Annotated[str, Header()]
    ) -> None: ...

    for endpoint in (get_product, list_products):
        changed = APIRouter()
        for route in products_router.routes:
            assert isinstance(route, APIRoute)
            if route.endpoint is endpoint:
                changed.add_api_route(route.path, stricter, methods=["GET"])
                changed.routes[-1].endpoint = endpoint  # type: ignore[attr-defined]
            else:
                changed.routes.append(route)
        with pytest.raises(RuntimeError, match="takes inputs the fast path does not serve"):
            verify_routes(changed.routes)


def test_hot_reads_are_timed_under_their_route(client: TestClient) -> None:
    client.get("/api/products/1")
    client.get("/api/products?category=mac")
    metrics = client.get("/metrics").text
    assert 'route="/api/products/{product_id}"' in metrics
    assert 'route="/api/products"' in metrics
