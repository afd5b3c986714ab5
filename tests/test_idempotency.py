"""`Idempotency-Key` on writes, against the real primary: retries never write twice."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from app.auth import create_token
from app.config import Settings
from app.db.engines import create_engine
from app.idempotency.repository import purge_expired
from app.localcluster import Cluster

MAC = {
    "category": "mac",
    "name": "MacBook Air 13 (M3)",
    "price": 1099.0,
    "attributes": {"model": "MacBook Air 13", "chip": "M3", "year": 2024, "ram_gb": 16},
}


def keyed(auth: dict[str, str], key: str) -> dict[str, str]:
    return {**auth, "Idempotency-Key": key}


def product_count(cluster: Cluster) -> int:
    return int(cluster.primary().sql("SELECT count(*) FROM products", dbname="trackr"))


def test_a_retried_create_replays_the_first_response(
    client: TestClient, auth: dict[str, str], clean_db: Cluster
) -> None:
    first = client.post("/api/products", json=MAC, headers=keyed(auth, "create-1"))
    retry = client.post("/api/products", json=MAC, headers=keyed(auth, "create-1"))
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["ETag"] == first.headers["ETag"]
    assert retry.headers["content-type"] == first.headers["content-type"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert retry.headers["X-Consistency-Token"]  # a read after the replay is still fresh
    assert product_count(clean_db) == 1
    history = client.get(
        f"/api/products/{first.json()['id']}/prices",
        headers={"X-Consistency-Token": retry.headers["X-Consistency-Token"]},
    )
    assert len(history.json()["items"]) == 1


def test_the_same_key_for_a_different_request_is_refused(
    client: TestClient, auth: dict[str, str], clean_db: Cluster
) -> None:
    assert client.post("/api/products", json=MAC, headers=keyed(auth, "k")).status_code == 201
    other = client.post("/api/products", json={**MAC, "price": 999.0}, headers=keyed(auth, "k"))
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["type"] == "/problems/idempotency-key-reused"
    assert product_count(clean_db) == 1


def test_concurrent_duplicates_write_once(
    client: TestClient, auth: dict[str, str], clean_db: Cluster
) -> None:
    def post(_: int) -> Any:
        return client.post("/api/products", json=MAC, headers=keyed(auth, "burst"))

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(post, range(6)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 5
    assert product_count(clean_db) == 1


def test_keys_belong_to_the_token_subject(
    client: TestClient, settings: Settings, auth: dict[str, str], clean_db: Cluster
) -> None:
    other = {"Authorization": f"Bearer {create_token(settings, ['products:write'], 60, 'bot')}"}
    a = client.post("/api/products", json=MAC, headers=keyed(auth, "shared"))
    b = client.post("/api/products", json=MAC, headers=keyed(other, "shared"))
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


def test_a_token_without_subject_does_not_share_keys_with_one_named_anonymous(
    client: TestClient, settings: Settings, clean_db: Cluster
) -> None:
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else ""
    exp = int(time.time()) + 60
    nameless = jwt.encode({"scope": "products:write", "exp": exp}, secret)
    named = jwt.encode({"sub": "anonymous", "scope": "products:write", "exp": exp}, secret)
    a = client.post("/api/products", json=MAC, headers=keyed(_auth(nameless), "same"))
    b = client.post("/api/products", json=MAC, headers=keyed(_auth(named), "same"))
    assert a.status_code == b.status_code == 201
    assert "Idempotent-Replayed" not in b.headers
    assert a.json()["id"] != b.json()["id"]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_failed_write_does_not_use_up_its_key(
    client: TestClient, auth: dict[str, str], clean_db: Cluster
) -> None:
    bad = client.post(
        "/api/products", json={**MAC, "attributes": {"chip": "M3", "cores": 8}},
        headers=keyed(auth, "fix-me"),
    )  # fmt: skip
    assert bad.status_code == 422
    good = client.post("/api/products", json=MAC, headers=keyed(auth, "fix-me"))
    assert good.status_code == 201
    assert "Idempotent-Replayed" not in good.headers


def test_an_expired_key_runs_the_write_again(
    client: TestClient, auth: dict[str, str], clean_db: Cluster
) -> None:
    first = client.post("/api/products", json=MAC, headers=keyed(auth, "old"))
    clean_db.primary().sql(
        "UPDATE idempotency_keys SET created_at = now() - interval '2 days'", dbname="trackr"
    )
    again = client.post("/api/products", json=MAC, headers=keyed(auth, "old"))
    assert again.status_code == 201
    assert again.json()["id"] != first.json()["id"]
    assert "Idempotent-Replayed" not in again.headers


def test_patch_and_delete_replay(
    client: TestClient, auth: dict[str, str], clean_db: Cluster
) -> None:
    product = client.post("/api/products", json=MAC, headers=auth).json()
    path = f"/api/products/{product['id']}"
    patch = {"price": 1049.0}
    one = client.patch(path, json=patch, headers=keyed(auth, "p1"))
    two = client.patch(path, json=patch, headers=keyed(auth, "p1"))
    assert one.status_code == two.status_code == 200
    assert one.json()["version"] == two.json()["version"] == 2
    assert two.headers["Idempotent-Replayed"] == "true"

    gone = client.delete(path, headers=keyed(auth, "d1"))
    again = client.delete(path, headers=keyed(auth, "d1"))
    assert gone.status_code == again.status_code == 204
    assert again.headers["Idempotent-Replayed"] == "true"
    assert client.delete(path, headers=keyed(auth, "d2")).status_code == 404


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "naïve"])
def test_malformed_keys_are_refused(
    client: TestClient, auth: dict[str, str], clean_db: Cluster, key: str
) -> None:
    headers = {name.encode(): value.encode() for name, value in auth.items()}
    headers[b"Idempotency-Key"] = key.encode()
    response = client.post("/api/products", json=MAC, headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert product_count(clean_db) == 0


def test_purge_removes_only_expired_keys(
    client: TestClient, auth: dict[str, str], clean_db: Cluster
) -> None:
    for key in ("keep", "drop"):
        client.post("/api/products", json={**MAC, "name": key}, headers=keyed(auth, key))
    clean_db.primary().sql(
        "UPDATE idempotency_keys SET created_at = now() - interval '2 days' WHERE key = 'drop'",
        dbname="trackr",
    )

    async def purge() -> int:
        engine = create_engine(clean_db.env()["DATABASE_URL"])
        try:
            return await purge_expired(engine, 24 * 3600)
        finally:
            await engine.dispose()

    assert asyncio.run(purge()) == 1
    keys = clean_db.primary().sql("SELECT string_agg(key, ',') FROM idempotency_keys", "trackr")
    assert keys == "keep"
