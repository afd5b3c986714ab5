"""Security headers on every response: no MIME sniffing, a cache policy per kind of
response, and no software banner from the real server."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from app.localcluster import Cluster
from tests.faults.harness import ApiServer, api_env
from tests.test_products_api import MAC


def test_reads_are_revalidated_and_everything_else_is_never_stored(
    client: TestClient, auth: dict[str, str]
) -> None:
    created = client.post("/api/products", json=MAC, headers=auth)
    pid = created.json()["id"]
    expected = {
        "no-store": [
            created,
            client.get("/api/products/999999"),
            client.get("/api/products?limit=0"),
            client.get("/health"),
            client.get("/metrics"),
            client.delete(f"/api/products/{pid}", headers=auth),
        ],
        "no-cache": [
            client.get("/api/products?category=mac"),
            client.get("/api/categories"),
        ],
    }
    for policy, responses in expected.items():
        for response in responses:
            assert response.headers["Cache-Control"] == policy, response.request.url
            assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_real_server_names_no_software(clean_db: Cluster, tmp_path: Path) -> None:
    server = ApiServer(api_env(clean_db), tmp_path / "headers.log")
    server.start()
    try:
        response = httpx.get(f"{server.base_url}/api/products/1")
        assert "server" not in response.headers
        assert response.headers["x-content-type-options"] == "nosniff"
    finally:
        server.stop()
