"""Hostile and odd input: always a 4xx problem, never a 500, and nothing half-written."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from tests.support import bearer

VALID = {"category": "coins", "name": "Eagle", "price": 10, "attributes": {"denomination": "1"}}


def forged_cursor(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "body",
    [
        {**VALID, "name": "nul\u0000byte"},
        {**VALID, "attributes": {"denomination": "nul\u0000"}},
        {**VALID, "attributes": {"denomination": "1", "grade": "\u0000"}},
        {**VALID, "price": "NaN"},
        {**VALID, "price": "Infinity"},
        {**VALID, "price": 1e400},
        {**VALID, "price": 10**20},
        {**VALID, "price": True},
        {**VALID, "attributes": {"denomination": "1", "year": 10**30}},
        {**VALID, "attributes": []},
        {**VALID, "attributes": {"denomination": {"nested": "object"}}},
        [VALID],
        "just a string",
        None,
        {**VALID, "url": "javascript:alert(1)"},
        {**VALID, "url": "http://" + "a" * 3000 + ".com"},
        {**VALID, "category": "\u0000"},
        {**VALID, "name": "x" * 301},
    ],
)
def test_garbage_bodies_are_4xx(client: TestClient, settings: Settings, body: Any) -> None:
    auth = bearer(settings, "products:write")
    response = client.post("/api/products", content=json.dumps(body).encode(),
                           headers={**auth, "Content-Type": "application/json"})  # fmt: skip
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "query",
    [
        "q=%00",
        "category=%00",
        "category=coins&attr.denomination=%00",
        "category=coins&attr.year=99999999999999999999999999",
        "min_price=1e400",
        "min_price=NaN",
        "max_price=-Infinity",
        "cursor=" + forged_cursor({"s": "id", "v": None, "i": 10**30}),
        "cursor=" + forged_cursor({"s": "id", "v": None, "i": -(10**30)}),
        "sort=price&cursor=" + forged_cursor({"s": "price", "v": "NaN", "i": 1}),
        "sort=price&cursor=" + forged_cursor({"s": "price", "v": "1e999999", "i": 1}),
        "sort=-updated_at&cursor=" + forged_cursor({"s": "-updated_at", "v": "2020-01-01", "i": 1}),
        "sort=-updated_at&cursor=" + forged_cursor({"s": "-updated_at", "v": "soon", "i": 1}),
        "sort=name&cursor=" + forged_cursor({"s": "name", "v": "\u0000", "i": 1}),
        "sort=name&cursor=" + forged_cursor({"s": "name", "v": 5, "i": 1}),
        "cursor=" + forged_cursor([1, 2]),
        "cursor=" + "A" * 2000,
        "limit=1e2",
    ],
)
def test_garbage_queries_are_4xx(client: TestClient, query: str) -> None:
    response = client.get(f"/api/products?{query}")
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_garbage_headers_are_4xx(client: TestClient) -> None:
    for token in ["", "0/", "/0", "G/0", "0/0/0", "FFFFFFFFF/0", "0/-1"]:
        response = client.get("/api/products", headers={"X-Consistency-Token": token})
        assert response.status_code in {200, 400}, (token, response.text)
    response = client.post("/api/products", json=VALID, headers={"Authorization": "Bearer"})
    assert response.status_code == 401


def test_nothing_is_half_written_on_rejection(client: TestClient, settings: Settings) -> None:
    auth = bearer(settings, "products:write")
    bad = {**VALID, "attributes": {"denomination": "1", "metal": "tin"}}
    assert client.post("/api/products", json=bad, headers=auth).status_code == 422
    good = client.post("/api/products", json=VALID, headers=auth)
    assert good.json()["id"] == 1  # identity not consumed... and nothing else was inserted
    page = client.get(
        "/api/products", headers={"X-Consistency-Token": good.headers["X-Consistency-Token"]}
    )
    assert len(page.json()["items"]) == 1
