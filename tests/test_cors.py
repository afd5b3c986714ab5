"""CORS: a page on another origin can call the API, read its headers, and read its errors.

Preflights are answered before the database: the first test's app has no database at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.config import Settings
from app.localcluster import Cluster
from app.localcluster.ports import free_port
from app.main import create_app
from tests.faults.harness import ApiServer, api_env
from tests.support import TEST_SECRET

ORIGIN = "https://shop.example.com"
PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "PATCH",
    "Access-Control-Request-Headers": "authorization, content-type, idempotency-key, if-match",
}


def _settings(**values: object) -> Settings:
    return Settings.model_validate({"app_env": "test", "jwt_secret": TEST_SECRET, **values})


@pytest.fixture
def without_database() -> Iterator[TestClient]:
    """An app whose primary and replicas cannot be reached (nothing listens on the port)."""
    dead = f"postgresql://trackr:x@127.0.0.1:{free_port()}/trackr"
    settings = _settings(
        database_url=dead,
        cors_allow_origins=ORIGIN,
        failover_read_wait_seconds=0,
        db_connect_timeout_seconds=0.2,
        replica_check_timeout_seconds=0.2,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def test_a_preflight_is_answered_without_the_database(without_database: TestClient) -> None:
    response = without_database.options("/api/products/1", headers=PREFLIGHT)
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-max-age"] == "600"
    allowed = response.headers["access-control-allow-headers"].lower()
    for header in ("authorization", "idempotency-key", "if-match", "x-consistency-token"):
        assert header in allowed
    assert "PATCH" in response.headers["access-control-allow-methods"]


def test_errors_carry_the_cors_headers(without_database: TestClient) -> None:
    """A browser's failover logic must be able to read a 503 and its Retry-After."""
    response = without_database.get("/api/products/1", headers={"Origin": ORIGIN})
    assert response.status_code == 503, response.text
    assert response.headers["access-control-allow-origin"] == ORIGIN
    exposed = response.headers["access-control-expose-headers"]
    for header in ("X-Consistency-Token", "X-Served-By", "Retry-After", "ETag", "X-Request-ID"):
        assert header in exposed


def test_a_refused_preflight_is_a_problem(without_database: TestClient) -> None:
    response = without_database.options(
        "/api/products", headers={**PREFLIGHT, "Origin": "https://evil.example.net"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert "origin" in response.json()["detail"]


def _without_lifespan(settings: Settings) -> TestClient:
    """No lifespan, so no database connection at all (/health/live needs none)."""
    return TestClient(create_app(settings), raise_server_exceptions=False)


def test_production_allows_no_origin_by_default() -> None:
    primary = "postgresql://trackr:x@db.internal:5432/trackr"
    client = _without_lifespan(_settings(app_env="production", database_url=primary))
    response = client.get("/health/live", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in response.headers


def test_development_allows_local_frontends_by_default() -> None:
    client = _without_lifespan(_settings(app_env="development"))
    local = client.get("/health/live", headers={"Origin": "http://localhost:5173"})
    assert local.headers["access-control-allow-origin"] == "http://localhost:5173"
    remote = client.get("/health/live", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in remote.headers


@pytest.mark.parametrize(
    "origins", ["https://shop.example.com/app", "shop.example.com", "*,https://a.example.com"]
)
def test_origins_must_be_exact(origins: str) -> None:
    with pytest.raises(ValidationError, match="CORS_ALLOW_ORIGINS"):
        _settings(cors_allow_origins=origins)
    assert _settings(cors_allow_origins="*").cors_origins == ["*"]


def test_a_real_server_serves_a_page_on_another_origin(clean_db: Cluster, tmp_path: Path) -> None:
    """Over a real socket, on the fast read path: a preflight, then the read itself."""
    server = ApiServer({**api_env(clean_db), "CORS_ALLOW_ORIGINS": ORIGIN}, tmp_path / "cors.log")
    server.start()
    try:
        preflight = httpx.options(
            f"{server.base_url}/api/products?category=mac",
            headers={**PREFLIGHT, "Access-Control-Request-Method": "GET"},
        )
        assert preflight.status_code == 200
        read = httpx.get(f"{server.base_url}/api/products?category=mac", headers={"Origin": ORIGIN})
        assert read.status_code == 200
        assert read.headers["access-control-allow-origin"] == ORIGIN
        assert read.headers["x-served-by"]
    finally:
        server.stop()
