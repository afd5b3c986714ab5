"""Bad input gets a clear RFC 9457 problem and never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

VALID = {"category": "mac", "name": "Mac mini", "price": 599,
         "attributes": {"model": "Mac mini", "chip": "M2"}}  # fmt: skip


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert problem["title"]
    assert problem["type"]
    return problem


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({**VALID, "category": "cars"}, "#/category"),
        ({**VALID, "attributes": {"model": "Mac mini", "chip": "M2", "colour": "red"}},
         "#/attributes/colour"),
        ({**VALID, "attributes": {"model": "Mac mini"}}, "#/attributes/chip"),
        ({**VALID, "attributes": {"model": "Mac mini", "chip": "M2", "ram_gb": "lots"}},
         "#/attributes/ram_gb"),
        ({**VALID, "price": -1}, "#/price"),
        ({**VALID, "price": 1.234}, "#/price"),
        ({**VALID, "currency": "dollars"}, "#/currency"),
        ({**VALID, "url": "not a url"}, "#/url"),
        ({**VALID, "name": ""}, "#/name"),
        ({**VALID, "nmae": "typo"}, "#/nmae"),
        ({**VALID, "category": "pokemon", "attributes": {"card_number": "1", "graded": True}},
         "#/attributes"),
    ],
)  # fmt: skip
def test_invalid_bodies_are_422_with_a_pointer(
    client: TestClient, auth: dict[str, str], body: dict[str, Any], pointer: str
) -> None:
    problem = assert_problem(client.post("/api/products", json=body, headers=auth), 422)
    assert pointer in [e.get("pointer") for e in problem["errors"]], problem


def test_unknown_attribute_message_names_the_known_ones(
    client: TestClient, auth: dict[str, str]
) -> None:
    body = {**VALID, "attributes": {"model": "Mac mini", "chip": "M2", "ramgb": 8}}
    problem = assert_problem(client.post("/api/products", json=body, headers=auth), 422)
    assert "ram_gb" in problem["errors"][0]["detail"]


def test_malformed_json_is_400(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post(
        "/api/products", content=b'{"name": ', headers={**auth, "Content-Type": "application/json"}
    )
    assert_problem(response, 400)


def test_body_over_one_mebibyte_is_413(client: TestClient, auth: dict[str, str]) -> None:
    big = {**VALID, "name": "x" * (1024 * 1024 + 10)}
    assert_problem(client.post("/api/products", json=big, headers=auth), 413)


def test_streamed_body_over_the_limit_is_413(client: TestClient, auth: dict[str, str]) -> None:
    def chunks() -> Any:
        for _ in range(20):
            yield b"x" * 65536

    response = client.post(
        "/api/products", content=chunks(), headers={**auth, "Content-Type": "application/json"}
    )
    assert_problem(response, 413)


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("category=cars", "category"),
        ("colour=red", "colour"),
        ("attr.ram_gb=16", "attr.ram_gb"),
        ("category=mac&attr.ramgb=16", "attr.ramgb"),
        ("category=mac&attr.ram_gb=sixteen", "attr.ram_gb"),
        ("category=mac&attr.ram_gb=8&attr.ram_gb=16", "attr.ram_gb"),
        ("sort=cheapest", "sort"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("min_price=-5", "min_price"),
        ("min_price=10&max_price=5", "min_price"),
        ("in_stock=maybe", "in_stock"),
    ],
)
def test_invalid_list_queries_are_422_naming_the_parameter(
    client: TestClient, query: str, parameter: str
) -> None:
    problem = assert_problem(client.get(f"/api/products?{query}"), 422)
    assert parameter in [e.get("parameter") for e in problem["errors"]], problem


@pytest.mark.parametrize("cursor", ["garbage", "eyJ4IjoxfQ", "!!!", "e30"])
def test_bad_cursor_is_400(client: TestClient, cursor: str) -> None:
    assert_problem(client.get("/api/products", params={"cursor": cursor}), 400)


def test_cursor_from_another_sort_is_400(client: TestClient, auth: dict[str, str]) -> None:
    for i in range(3):
        token = client.post("/api/products", json={**VALID, "name": f"m{i}"}, headers=auth)
    page = client.get(
        "/api/products?limit=1&sort=price",
        headers={"X-Consistency-Token": token.headers["X-Consistency-Token"]},
    ).json()
    problem = assert_problem(
        client.get("/api/products", params={"cursor": page["next_cursor"], "sort": "name"}), 400
    )
    assert "sort" in problem["detail"]


@pytest.mark.parametrize("product_id", ["abc", "0", "-1", "99999999999999999999999"])
def test_bad_product_ids_are_422(client: TestClient, product_id: str) -> None:
    assert_problem(client.get(f"/api/products/{product_id}"), 422)


def test_bad_consistency_token_is_400(client: TestClient) -> None:
    response = client.get("/api/products", headers={"X-Consistency-Token": "yesterday"})
    assert_problem(response, 400)


def test_unknown_route_and_method_are_problems(client: TestClient) -> None:
    assert_problem(client.get("/api/nothing"), 404)
    assert_problem(client.put("/api/products"), 405)


def test_null_for_a_required_field_in_patch_is_422(
    client: TestClient, auth: dict[str, str]
) -> None:
    created = client.post("/api/products", json=VALID, headers=auth).json()
    response = client.patch(f"/api/products/{created['id']}", json={"name": None}, headers=auth)
    assert_problem(response, 422)


def test_if_match_garbage_is_412(client: TestClient, auth: dict[str, str]) -> None:
    created = client.post("/api/products", json=VALID, headers=auth).json()
    response = client.patch(
        f"/api/products/{created['id']}", json={"price": 1}, headers={**auth, "If-Match": "nope"}
    )
    assert_problem(response, 412)


def test_every_response_has_a_request_id(client: TestClient) -> None:
    first, second = client.get("/health/live"), client.get("/api/products/999999")
    ids = {first.headers["X-Request-ID"], second.headers["X-Request-ID"]}
    assert len(ids) == 2
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    echoed = client.get("/health/live", headers={"X-Request-ID": "trace-" + "a" * 80})
    assert echoed.headers["X-Request-ID"] == ("trace-" + "a" * 80)[:64]
