"""The product API contract against a real primary + replica."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

MAC = {
    "category": "mac",
    "name": "MacBook Pro 14 (M2 Pro)",
    "url": "https://shop.example.com/mbp14",
    "price": 1999.99,
    "attributes": {"model": "MacBook Pro 14", "chip": "M2 Pro", "year": 2023, "ram_gb": 16},
}


def create(client: TestClient, auth: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = client.post("/api/products", json={**MAC, **overrides}, headers=auth)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    body["_token"] = response.headers["X-Consistency-Token"]
    return body


def fresh(token: str) -> dict[str, str]:
    return {"X-Consistency-Token": token}


def test_create_returns_201_location_etag_and_product_json(
    client: TestClient, auth: dict[str, str]
) -> None:
    response = client.post("/api/products", json=MAC, headers=auth)
    assert response.status_code == 201
    body = response.json()
    assert response.headers["Location"] == f"/api/products/{body['id']}"
    assert response.headers["ETag"] == '"1"'
    assert response.headers["X-Served-By"] == "primary"
    assert set(body) == {
        "id", "category", "name", "url", "price", "currency", "in_stock", "attributes",
        "created_at", "updated_at", "version",
    }  # fmt: skip
    assert body["price"] == 1999.99
    assert body["currency"] == "USD"
    assert body["in_stock"] is True
    assert body["version"] == 1
    assert body["attributes"]["ram_gb"] == 16


def test_get_by_id_with_etag_and_304(client: TestClient, auth: dict[str, str]) -> None:
    product = create(client, auth)
    response = client.get(f"/api/products/{product['id']}", headers=fresh(product["_token"]))
    assert response.status_code == 200
    assert response.json()["name"] == MAC["name"]
    etag = response.headers["ETag"]
    cached = client.get(
        f"/api/products/{product['id']}",
        headers={**fresh(product["_token"]), "If-None-Match": etag},
    )
    assert cached.status_code == 304
    assert cached.content == b""


def test_missing_product_is_404_problem(client: TestClient) -> None:
    response = client.get("/api/products/999999")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 404
    assert "999999" in problem["detail"]


def test_patch_merges_attributes_records_price_and_bumps_version(
    client: TestClient, auth: dict[str, str]
) -> None:
    product = create(client, auth)
    response = client.patch(
        f"/api/products/{product['id']}",
        json={"price": 1799, "attributes": {"ram_gb": 32, "year": None}},
        headers={**auth, "If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == 2
    assert response.headers["ETag"] == '"2"'
    assert body["attributes"] == {"model": "MacBook Pro 14", "chip": "M2 Pro", "ram_gb": 32}
    prices = client.get(
        f"/api/products/{product['id']}/prices",
        headers=fresh(response.headers["X-Consistency-Token"]),
    )
    assert [p["price"] for p in prices.json()["items"]] == [1799.0, 1999.99]


def test_patch_without_price_change_adds_no_history(
    client: TestClient, auth: dict[str, str]
) -> None:
    product = create(client, auth)
    response = client.patch(
        f"/api/products/{product['id']}", json={"in_stock": False}, headers=auth
    )
    assert response.status_code == 200
    prices = client.get(
        f"/api/products/{product['id']}/prices",
        headers=fresh(response.headers["X-Consistency-Token"]),
    )
    assert len(prices.json()["items"]) == 1


@pytest.mark.parametrize(
    "patch",
    [{}, {"price": 1999.99, "in_stock": True}, {"attributes": {"chip": "M2 Pro"}}],
    ids=["empty", "same-values", "same-attribute"],
)
def test_a_patch_that_changes_nothing_changes_nothing(
    client: TestClient, auth: dict[str, str], patch: dict[str, Any]
) -> None:
    product = create(client, auth)
    for _ in range(2):
        response = client.patch(f"/api/products/{product['id']}", json=patch, headers=auth)
        assert response.status_code == 200, response.text
        assert response.headers["ETag"] == '"1"'
        assert response.json()["updated_at"] == product["updated_at"]
    prices = client.get(
        f"/api/products/{product['id']}/prices",
        headers=fresh(response.headers["X-Consistency-Token"]),
    )
    assert len(prices.json()["items"]) == 1
    changed = client.patch(f"/api/products/{product['id']}", json={"price": 5}, headers=auth)
    assert changed.headers["ETag"] == '"2"'


def test_patch_with_stale_if_match_is_412(client: TestClient, auth: dict[str, str]) -> None:
    product = create(client, auth)
    client.patch(f"/api/products/{product['id']}", json={"price": 10}, headers=auth)
    stale = client.patch(
        f"/api/products/{product['id']}", json={"price": 11}, headers={**auth, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"


def test_patch_revalidates_merged_attributes(client: TestClient, auth: dict[str, str]) -> None:
    product = create(client, auth)
    response = client.patch(
        f"/api/products/{product['id']}", json={"attributes": {"chip": None}}, headers=auth
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "#/attributes/chip"


def test_delete_is_204_then_404(client: TestClient, auth: dict[str, str]) -> None:
    product = create(client, auth)
    assert client.delete(f"/api/products/{product['id']}", headers=auth).status_code == 204
    assert client.delete(f"/api/products/{product['id']}", headers=auth).status_code == 404


def _names(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


def test_filters_sort_and_attribute_equality(client: TestClient, auth: dict[str, str]) -> None:
    air = {"model": "Air", "chip": "M1", "ram_gb": 8}
    pro = {"model": "Pro", "chip": "M2", "ram_gb": 16}
    studio = {"model": "Studio", "chip": "M2 Ultra", "ram_gb": 64}
    create(client, auth, name="Air 8GB", price=999, attributes=air)
    create(client, auth, name="Pro 16GB", price=1999, attributes=pro)
    create(client, auth, name="Studio 64GB", price=3999, in_stock=False, attributes=studio)
    snes = {"platform": "SNES", "region": "NTSC-U"}
    last = create(client, auth, category="games", name="Chrono Trigger", price=250, attributes=snes)

    def listed(query: str) -> list[str]:
        return _names(client.get(f"/api/products?{query}", headers=fresh(last["_token"])))

    assert listed("category=mac&attr.ram_gb=16") == ["Pro 16GB"]
    assert listed("category=mac&attr.ram_gb=16&attr.chip=M1") == []
    assert listed("category=mac&sort=-price") == ["Studio 64GB", "Pro 16GB", "Air 8GB"]
    assert listed("min_price=900&max_price=2000&sort=price") == ["Air 8GB", "Pro 16GB"]
    assert listed("in_stock=false") == ["Studio 64GB"]
    assert listed("q=chrono") == ["Chrono Trigger"]
    assert listed("q=%25") == []  # LIKE wildcards in q are literal
    assert listed("category=games&attr.region=NTSC-U") == ["Chrono Trigger"]
    assert listed("sort=name&limit=2") == ["Air 8GB", "Chrono Trigger"]


@pytest.mark.parametrize("sort", ["id", "price", "-price", "name", "-updated_at"])
def test_keyset_pagination_visits_every_row_once(
    client: TestClient, auth: dict[str, str], sort: str
) -> None:
    token = ""
    for i in range(7):
        token = create(client, auth, name=f"Mac {i % 3}-{i}", price=100 + (i % 3))["_token"]
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"sort": sort, "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/products", params=params, headers=fresh(token)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        pages += 1
        if cursor is None:
            break
    assert sorted(seen) == list(range(1, 8))
    assert len(seen) == 7
    assert pages == 3


def test_categories_list_schemas_and_counts(client: TestClient, auth: dict[str, str]) -> None:
    token = create(client, auth)["_token"]
    response = client.get("/api/categories", headers=fresh(token))
    assert response.status_code == 200
    categories = {c["name"]: c for c in response.json()}
    assert set(categories) == {"mac", "pokemon", "coins", "games"}
    assert categories["mac"]["product_count"] == 1
    assert categories["games"]["product_count"] == 0
    assert "ram_gb" in categories["mac"]["attributes_schema"]["properties"]
    assert categories["pokemon"]["title"]


def test_every_category_accepts_its_attributes(client: TestClient, auth: dict[str, str]) -> None:
    create(client, auth, category="pokemon", name="Charizard",
           attributes={"set_name": "Base Set", "card_number": "4/102", "graded": True,
                       "grade": 9, "grader": "PSA"})  # fmt: skip
    create(
        client,
        auth,
        category="coins",
        name="Gold Eagle",
        attributes={"denomination": "1 oz", "metal": "gold", "grade": "MS-70"},
    )
    games = create(
        client,
        auth,
        category="games",
        name="EarthBound",
        attributes={"platform": "SNES", "condition": "loose"},
    )
    assert games["attributes"] == {"platform": "SNES", "condition": "loose"}
