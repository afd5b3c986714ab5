"""GET /api/stats: what the monitor compares across backends."""

from __future__ import annotations

from datetime import datetime

from fastapi.testclient import TestClient

from tests.test_products_api import create, fresh


def test_empty_database_reports_every_category_at_zero(client: TestClient) -> None:
    response = client.get("/api/stats")
    assert response.status_code == 200
    body = response.json()
    assert body["products_by_category"] == {"mac": 0, "pokemon": 0, "coins": 0, "games": 0}
    assert body["product_count"] == 0
    assert body["last_updated_at"] is None
    assert isinstance(body["schema_revision"], str)
    assert len(body["schema_revision"]) >= 12


def test_counts_and_newest_change_follow_writes(client: TestClient, auth: dict[str, str]) -> None:
    create(client, auth)
    second = create(client, auth, name="Mac mini")
    response = client.get("/api/stats", headers=fresh(second["_token"]))
    body = response.json()
    assert body["products_by_category"]["mac"] == 2
    assert body["product_count"] == 2
    newest = datetime.fromisoformat(body["last_updated_at"])
    assert newest == datetime.fromisoformat(second["updated_at"])
