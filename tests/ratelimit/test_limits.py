"""Rate limits in one process: the headers, the 429, what is never limited, who counts as
one client. Memory storage here; tests/ratelimit/test_shared.py runs them on a real Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.auth import create_token
from app.config import Settings
from app.localcluster import Cluster
from app.main import create_app
from tests.conftest import make_settings
from tests.support import bearer

READS, WRITES = 5, 2
ORIGIN = "https://shop.example.com"


def limited_settings(cluster: Cluster, **overrides: object) -> Settings:
    return make_settings(
        cluster,
        rate_limit_enabled=True,
        rate_limit_reads=f"{READS}/minute",
        rate_limit_writes=f"{WRITES}/minute",
        cors_allow_origins=ORIGIN,
        **overrides,
    )


@pytest.fixture
def limited(clean_db: Cluster) -> Iterator[TestClient]:
    with TestClient(create_app(limited_settings(clean_db)), raise_server_exceptions=False) as c:
        yield c


def test_reads_past_the_limit_get_a_429_problem_with_retry_after(limited: TestClient) -> None:
    for left in range(READS - 1, -1, -1):
        response = limited.get("/api/categories")
        assert response.status_code == 200, response.text
        assert response.headers["ratelimit-policy"] == f'"reads";q={READS};w=60'
        remaining, reset = _fields(response.headers["ratelimit"])
        assert remaining == left
        assert 0 <= reset <= 60
    refused = limited.get("/api/products/1")
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"] == "/problems/rate-limited"
    assert problem["status"] == 429
    assert "on this API node" in problem["detail"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert _fields(refused.headers["ratelimit"])[0] == 0


def test_a_refusal_is_readable_by_a_page_on_another_origin(limited: TestClient) -> None:
    for _ in range(READS):
        limited.get("/api/categories")
    refused = limited.get("/api/categories", headers={"Origin": ORIGIN})
    assert refused.status_code == 429
    assert refused.headers["access-control-allow-origin"] == ORIGIN
    exposed = refused.headers["access-control-expose-headers"].lower()
    for name in ("retry-after", "ratelimit", "ratelimit-policy"):
        assert name in [h.strip() for h in exposed.split(",")]


def test_health_metrics_and_preflights_are_never_limited(limited: TestClient) -> None:
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    for _ in range(READS * 3):
        assert limited.get("/health").status_code == 200
        assert limited.get("/health/ready").status_code == 200
        assert limited.get("/metrics").status_code == 200
        assert limited.options("/api/products", headers=preflight).status_code == 200
    assert limited.get("/api/categories").status_code == 200  # still the first read


def test_writes_and_reads_count_apart(limited: TestClient, settings: Settings) -> None:
    writer = bearer(settings, "products:write")
    body = {"category": "games", "name": "x", "price": 1, "attributes": {"platform": "GB"}}
    for _ in range(WRITES):
        created = limited.post("/api/products", json=body, headers=writer)
        assert created.status_code == 201, created.text
        assert created.headers["ratelimit-policy"] == f'"writes";q={WRITES};w=60'
    assert limited.post("/api/products", json=body, headers=writer).status_code == 429
    # a refused write was never run
    assert len(limited.get("/api/products", headers=writer).json()["items"]) == WRITES
    assert limited.get("/api/categories", headers=writer).status_code == 200


def test_each_token_subject_is_a_client_and_a_bad_token_counts_by_address(
    limited: TestClient, settings: Settings
) -> None:
    alice = {"Authorization": f"Bearer {_token_for(settings, 'alice')}"}
    bob = {"Authorization": f"Bearer {_token_for(settings, 'bob')}"}
    for _ in range(READS):
        assert limited.get("/api/categories", headers=alice).status_code == 200
    assert limited.get("/api/categories", headers=alice).status_code == 429
    assert limited.get("/api/categories", headers=bob).status_code == 200
    for _ in range(READS):
        assert limited.get("/api/categories", headers={"Authorization": "Bearer junk"}).is_success
    assert limited.get("/api/categories").status_code == 429  # the same address


def test_x_forwarded_for_is_never_taken_from_the_request(limited: TestClient) -> None:
    for n in range(READS):
        assert limited.get("/api/categories", headers={"X-Forwarded-For": f"10.0.0.{n}"}).is_success
    refused = limited.get("/api/categories", headers={"X-Forwarded-For": "10.9.9.9"})
    assert refused.status_code == 429


def test_off_by_default_no_headers(client: TestClient) -> None:
    response = client.get("/api/categories")
    assert response.status_code == 200
    assert "ratelimit" not in response.headers
    assert client.get("/health").json().get("rate_limit") is None


def test_health_reports_memory_storage(limited: TestClient) -> None:
    report = limited.get("/health").json()["rate_limit"]
    assert report == {"storage": "memory", "redis": "not configured", "error": None,
                      "fallbacks": 0}  # fmt: skip


@pytest.mark.parametrize("value", ["0/minute", "ten/minute", "5/fortnight", "1/minute;2/hour"])
def test_a_bad_limit_is_refused_at_start(value: str) -> None:
    with pytest.raises(ValueError, match="not one rate limit"):
        Settings(app_env="test", rate_limit_enabled=True, rate_limit_reads=value)


def test_the_429_is_in_the_openapi(limited: TestClient) -> None:
    operations = limited.get("/openapi.json").json()["paths"]
    documented = operations["/api/products/{product_id}"]["get"]["responses"]["429"]
    assert "application/problem+json" in documented["content"]
    assert {"Retry-After", "RateLimit-Policy", "RateLimit"} <= set(documented["headers"])
    assert "429" not in operations["/health"]["get"]["responses"]


def _fields(value: str) -> tuple[int, int]:
    """`"reads";r=3;t=58` → (3, 58)."""
    params = dict(part.split("=") for part in value.split(";")[1:])
    return int(params["r"]), int(params["t"])


def _token_for(settings: Settings, subject: str) -> str:
    return create_token(settings, ["products:read"], 600, subject=subject)
