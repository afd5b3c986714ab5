"""The OpenAPI document tells the truth: what it promises is what the API does.

tests/fuzz runs schemathesis against a real server; these pin the fixes it drove, one by one,
and the class of input that used to reach a 500 (numbers no JSON encoder can write).
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.test_api_errors import VALID, assert_problem

PROBLEM_JSON = "application/problem+json"


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    schema: dict[str, Any] = create_app(Settings(app_env="test")).openapi()
    return schema


def _operations(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, operations in openapi["paths"].items()
        for method, operation in operations.items()
    ]


def test_every_error_is_documented_as_problem_json(openapi: dict[str, Any]) -> None:
    for method, path, operation in _operations(openapi):
        for status, response in operation["responses"].items():
            if int(status) >= 400 and path != "/health" and not path.startswith("/health/"):
                assert list(response.get("content", {})) == [PROBLEM_JSON], (method, path, status)


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("GET", "/api/products", {"400", "422", "503"}),
        ("GET", "/api/products/{product_id}", {"304", "400", "404", "422", "503"}),
        ("POST", "/api/products", {"400", "401", "403", "409", "413", "422", "503"}),
        ("PATCH", "/api/products/{product_id}", {"401", "403", "404", "412", "413", "422"}),
        ("DELETE", "/api/products/{product_id}", {"401", "403", "404", "409", "422", "503"}),
        ("GET", "/admin/routing", {"401", "403"}),
        ("POST", "/admin/replicas/{name}/drain", {"401", "403", "404", "422", "503"}),
        ("GET", "/api/categories", {"400", "503"}),
        ("GET", "/api/stats", {"400", "503"}),
    ],
)
def test_routes_document_the_statuses_they_return(
    openapi: dict[str, Any], method: str, path: str, statuses: set[str]
) -> None:
    documented = set(openapi["paths"][path][method.lower()]["responses"])
    assert statuses <= documented


def test_the_consistency_token_has_the_lsn_format(openapi: dict[str, Any]) -> None:
    parameters = openapi["paths"]["/api/products"]["get"]["parameters"]
    token = next(p for p in parameters if p["name"] == "X-Consistency-Token")
    assert token["schema"]["pattern"] == "^(([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8}))?$"


def test_patch_fields_that_cannot_be_null_are_not_nullable(openapi: dict[str, Any]) -> None:
    fields = openapi["components"]["schemas"]["ProductUpdate"]["properties"]
    for name in ("category", "name", "price", "currency", "in_stock", "attributes"):
        assert "anyOf" not in fields[name], name
        assert "default" not in fields[name], name
    assert {"type": "null"} in fields["url"]["anyOf"]  # null clears the URL


def test_405_names_every_method_of_the_path(client: TestClient) -> None:
    response = client.put("/api/products/1")
    assert_problem(response, 405)
    assert response.headers["Allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH"
    assert client.put("/api/products").headers["Allow"] == "GET, HEAD, OPTIONS, POST"
    admin = client.get("/admin/replicas/replica1/drain")
    assert admin.headers["Allow"] == "OPTIONS, POST"


def test_an_explicit_null_is_refused_at_the_field(client: TestClient, auth: dict[str, str]) -> None:
    created = client.post("/api/products", json=VALID, headers=auth).json()
    response = client.patch(f"/api/products/{created['id']}", json={"category": None}, headers=auth)
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["pointer"] == "#/category"


@pytest.mark.parametrize(
    "number", ["18446744073709551616", "-9223372036854775809", "1e999", "-1e999"]
)
def test_numbers_beyond_the_json_encoder_are_422_not_500(
    client: TestClient, auth: dict[str, str], number: str
) -> None:
    """The fuzzer's one 500: a PATCH with an Idempotency-Key and an attribute integer beyond
    64 bits crashed the request fingerprint. Every body with such a number is a 422 now."""
    created = client.post("/api/products", json=VALID, headers=auth).json()
    attributes = f'"attributes": {{"year": {number}}}'
    create_body = f'{{"category": "coins", "name": "x", "price": 1, {attributes}}}'
    for method, path, body in (
        ("PATCH", f"/api/products/{created['id']}", f"{{{attributes}}}"),
        ("POST", "/api/products", create_body),
    ):
        headers = {**auth, "Content-Type": "application/json", "Idempotency-Key": f"k-{number}"}
        response = client.request(method, path, content=body, headers=headers)
        problem = assert_problem(response, 422)
        assert problem["errors"][0]["pointer"] == "#/attributes", problem


def test_an_attribute_filter_beyond_64_bits_is_422(client: TestClient) -> None:
    response = client.get(f"/api/products?category=coins&attr.year={2**64}")
    assert_problem(response, 422)
