"""Writes need a valid JWT with the products:write scope; reads are public."""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from app.auth import VerifiedTokens
from app.config import Settings
from app.localcluster import Cluster
from app.main import create_app
from tests.support import TEST_SECRET, bearer, token

BODY = {"category": "games", "name": "Tetris", "price": 20, "attributes": {"platform": "GB"}}


def _claims(**extra: object) -> dict[str, object]:
    return {"sub": "t", "scope": "products:write", "exp": int(time.time()) + 60, **extra}


def _bearer(claims: dict[str, object], key: str = TEST_SECRET) -> dict[str, str]:
    return {"Authorization": "Bearer " + jwt.encode(claims, key)}


# Factories, so every token is minted when its test runs (not at collection time).
REJECTIONS: list[tuple[Callable[[], dict[str, str]], int]] = [
    (lambda: {}, 401),
    (lambda: {"Authorization": "Basic dXNlcjpwYXNz"}, 401),
    (lambda: {"Authorization": "Bearer not-a-jwt"}, 401),
    (lambda: _bearer(_claims(), "wrong-secret" * 4), 401),
    (lambda: _bearer(_claims(exp=1)), 401),
    (lambda: _bearer({"scope": "products:write"}), 401),
    (lambda: _bearer(_claims(scope="products:read")), 403),
    # RFC 7519 dates are numbers: PyJWT itself accepts a numeric string.
    (lambda: _bearer(_claims(exp=str(int(time.time()) + 60))), 401),
    (lambda: _bearer(_claims(iat=str(int(time.time())))), 401),
    (lambda: {"Authorization": "Bearer " + "a" * 9000}, 401),
]


@pytest.mark.parametrize(("headers", "status"), REJECTIONS)
def test_write_rejections(
    client: TestClient, headers: Callable[[], dict[str, str]], status: int
) -> None:
    response = client.post("/api/products", json=BODY, headers=headers())
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_scope_is_a_space_separated_list(client: TestClient, settings: Settings) -> None:
    headers = {"Authorization": f"Bearer {token(settings, 'openid', 'products:write')}"}
    assert client.post("/api/products", json=BODY, headers=headers).status_code == 201


def test_unauthenticated_delete_and_patch_are_401(client: TestClient) -> None:
    assert client.delete("/api/products/1").status_code == 401
    assert client.patch("/api/products/1", json={"price": 1}).status_code == 401


def test_reads_need_no_token(client: TestClient) -> None:
    assert client.get("/api/products").status_code == 200


def test_audience_and_issuer_are_checked_when_configured(
    clean_db: Cluster, settings: Settings
) -> None:
    strict = settings.model_copy(update={"jwt_audience": "trackr", "jwt_issuer": "https://idp"})
    with TestClient(create_app(strict)) as client:
        ok = bearer(strict, "products:write")
        assert client.post("/api/products", json=BODY, headers=ok).status_code == 201
        wrong_aud = jwt.encode(_claims(aud="other", iss="https://idp"), TEST_SECRET)
        response = client.post(
            "/api/products", json=BODY, headers={"Authorization": f"Bearer {wrong_aud}"}
        )
        assert response.status_code == 401


def test_rs256_with_a_public_key(clean_db: Cluster, settings: Settings) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    rs = settings.model_copy(
        update={"jwt_algorithm": "RS256", "jwt_public_key": public_pem, "jwt_secret": None}
    )
    signed = jwt.encode(_claims(), key, algorithm="RS256")
    with TestClient(create_app(rs)) as client:
        headers = {"Authorization": f"Bearer {signed}"}
        assert client.post("/api/products", json=BODY, headers=headers).status_code == 201
        forged = jwt.encode(_claims(), "x" * 40, algorithm="HS256")
        headers = {"Authorization": f"Bearer {forged}"}
        assert client.post("/api/products", json=BODY, headers=headers).status_code == 401


def test_an_accepted_token_is_refused_once_it_expires(client: TestClient) -> None:
    """The app keeps the tokens it accepted (app.auth.VerifiedTokens): a kept one still
    expires at its `exp`, to the second, as an unkept one would."""
    expires = int(time.time()) + 2
    headers = _bearer(_claims(exp=expires))
    assert client.post("/api/products", json=BODY, headers=headers).status_code == 201
    assert client.post("/api/products", json=BODY, headers=headers).status_code == 201
    time.sleep(max(0.0, expires - time.time()) + 0.05)
    response = client.post("/api/products", json=BODY, headers=headers)
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_a_refused_token_says_why_every_time(client: TestClient) -> None:
    headers = _bearer(_claims(), "wrong-secret" * 4)
    for _ in range(3):
        response = client.post("/api/products", json=BODY, headers=headers)
        assert response.status_code == 401
        assert "Signature verification failed" in response.json()["detail"]


def test_apps_keep_their_own_accepted_tokens(clean_db: Cluster, settings: Settings) -> None:
    """A token one app accepted is judged afresh by an app with another secret, in the same
    process."""
    other = settings.model_copy(update={"jwt_secret": SecretStr("another-secret" * 3)})
    headers = bearer(settings, "products:write")
    with TestClient(create_app(settings)) as first, TestClient(create_app(other)) as second:
        assert first.post("/api/products", json=BODY, headers=headers).status_code == 201
        assert second.post("/api/products", json=BODY, headers=headers).status_code == 401


def test_kept_tokens_are_bounded(settings: Settings) -> None:
    tokens = VerifiedTokens(settings, kept=2)
    minted = [jwt.encode(_claims(sub=f"user-{n}"), TEST_SECRET) for n in range(5)]
    assert [tokens.principal(t).subject for t in minted] == [f"user-{n}" for n in range(5)]
    assert len(tokens._accepted) == 2
