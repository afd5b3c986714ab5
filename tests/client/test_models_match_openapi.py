"""trackr_client's models against the OpenAPI document the server publishes: a response shape
that changes (a field renamed, removed, added, retyped or made nullable) fails here.

Each response schema is resolved from the operation that returns it; the client model must
name exactly its fields, require none the server may leave out, and accept a value of every
type the schema allows (samples built from the schema itself)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel
from trackr_client import PriceHistory, Product, ProductPage
from trackr_client.models import PricePoint

from app.config import Settings
from app.main import create_app

Schema = dict[str, Any]

RESPONSES: list[tuple[str, str, str, type[BaseModel]]] = [
    ("get", "/api/products/{product_id}", "200", Product),
    ("post", "/api/products", "201", Product),
    ("patch", "/api/products/{product_id}", "200", Product),
    ("get", "/api/products", "200", ProductPage),
    ("get", "/api/products/{product_id}/prices", "200", PriceHistory),
]

# The model of each list's items, checked against the list schema's `items`.
NESTED: dict[type[BaseModel], type[BaseModel]] = {PriceHistory: PricePoint, ProductPage: Product}


@pytest.fixture(scope="module")
def openapi() -> Schema:
    document: Schema = create_app(Settings(app_env="test")).openapi()
    return document


def resolve(openapi: Schema, schema: Schema) -> Schema:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = openapi["components"]["schemas"][name]
    return schema


def response_schema(openapi: Schema, method: str, path: str, status: str) -> Schema:
    content = openapi["paths"][path][method]["responses"][status]["content"]
    return resolve(openapi, content["application/json"]["schema"])


def samples(openapi: Schema, schema: Schema) -> list[Any]:
    """One value of each shape `schema` allows (every branch of an anyOf)."""
    schema = resolve(openapi, schema)
    branches: list[Schema] | None = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        return [value for branch in branches for value in samples(openapi, branch)]
    kind = schema.get("type")
    if kind == "object" and "properties" in schema:
        return [document(openapi, schema, {})]
    if kind == "array":
        return [[], *([item] for item in samples(openapi, schema.get("items", {})))]
    simple: dict[Any, list[Any]] = {
        "integer": [7],
        "number": [12.5, 3],
        "boolean": [True],
        "null": [None],
        "object": [{}, {"any": [1, "x"]}],
        None: [None, 1, "x"],
    }
    if kind == "string":
        return ["2026-12-02T10:00:00Z" if schema.get("format") == "date-time" else "text"]
    return simple[kind]


def document(openapi: Schema, schema: Schema, overrides: dict[str, Any]) -> dict[str, Any]:
    first = {name: samples(openapi, prop)[0] for name, prop in schema["properties"].items()}
    return {**first, **overrides}


@pytest.mark.parametrize(
    ("method", "path", "status", "model"), RESPONSES, ids=[f"{m} {p}" for m, p, _, _ in RESPONSES]
)
def test_the_client_model_reads_every_shape_the_api_documents(
    openapi: Schema, method: str, path: str, status: str, model: type[BaseModel]
) -> None:
    check_model(openapi, response_schema(openapi, method, path, status), model)


def check_model(openapi: Schema, schema: Schema, model: type[BaseModel]) -> None:
    server_fields = set(schema["properties"])
    assert set(model.model_fields) == server_fields, f"{model.__name__} fields differ"
    client_required = {name for name, f in model.model_fields.items() if f.is_required()}
    missing = client_required - set(schema.get("required", []))
    assert not missing, f"{model.__name__} requires {missing}, which the API may leave out"
    for name, prop in schema["properties"].items():
        for value in samples(openapi, prop):
            model.model_validate(document(openapi, schema, {name: value}))
    nested = NESTED.get(model)
    if nested is not None:
        check_model(openapi, resolve(openapi, schema["properties"]["items"]["items"]), nested)


def test_a_changed_shape_is_caught(openapi: Schema) -> None:
    """The check itself: a retyped and a renamed field both fail it."""
    schema = response_schema(openapi, "get", "/api/products/{product_id}", "200")
    retyped = {**schema, "properties": {**schema["properties"], "id": {"type": "string"}}}
    with pytest.raises(ValueError, match="id"):
        check_model(openapi, retyped, Product)
    renamed = dict(schema["properties"])
    renamed["title"] = renamed.pop("name")
    with pytest.raises(AssertionError, match="fields differ"):
        check_model(openapi, {**schema, "properties": renamed}, Product)
