"""/admin: routing state, drain/undrain and the balancing mode, shared by every API node."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.support import bearer


@pytest.fixture
def admin(settings: Settings) -> dict[str, str]:
    return bearer(settings, "admin")


def eventually(condition: Callable[[], bool], within: float = 5) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.05)


def served_by(client: TestClient) -> str:
    return client.get("/api/products").headers["X-Served-By"]


def test_admin_needs_the_admin_scope(client: TestClient, settings: Settings) -> None:
    assert client.get("/admin/routing").status_code == 401
    writer = bearer(settings, "products:write")
    assert client.get("/admin/routing", headers=writer).status_code == 403


def test_routing_state_lists_every_node(client: TestClient, admin: dict[str, str]) -> None:
    state = client.get("/admin/routing", headers=admin).json()
    assert state["read_balancing"] == "round_robin"
    assert state["primary"]["up"] is True
    assert state["primary"]["breaker"] == "closed"
    (replica,) = state["replicas"]
    assert replica["name"] == "replica1"
    assert replica["in_rotation"] is True
    assert replica["lag_bytes"] is not None
    assert "read_retries" in state["counters"]


def test_drain_and_undrain_reach_every_api_node(
    client: TestClient, settings: Settings, admin: dict[str, str]
) -> None:
    with TestClient(create_app(settings)) as other_node:
        assert served_by(other_node) == "replica:replica1"
        drained = client.post("/admin/replicas/replica1/drain", headers=admin)
        assert drained.status_code == 200
        assert drained.json()["replicas"][0]["drained"] is True
        assert served_by(client) == "primary"  # at once on the node that took the call
        eventually(lambda: served_by(other_node) == "primary")  # within a check elsewhere
        health = other_node.get("/health").json()
        assert health["database"]["replicas"][0]["reason"] == "drained by an operator"
        assert client.post("/admin/replicas/replica1/undrain", headers=admin).status_code == 200
        assert served_by(client) == "replica:replica1"
        eventually(lambda: served_by(other_node) == "replica:replica1")


def test_balancing_mode_primary_during_an_incident(
    client: TestClient, admin: dict[str, str]
) -> None:
    changed = client.post("/admin/routing", json={"read_balancing": "primary"}, headers=admin)
    assert changed.status_code == 200
    assert changed.json()["override"] == "primary"
    assert served_by(client) == "primary"
    reset = client.post("/admin/routing", json={"read_balancing": None}, headers=admin)
    assert reset.json()["read_balancing"] == "round_robin"
    assert served_by(client) == "replica:replica1"


def test_bad_admin_input(client: TestClient, admin: dict[str, str]) -> None:
    bad_mode = client.post("/admin/routing", json={"read_balancing": "random"}, headers=admin)
    assert bad_mode.status_code == 422
    unknown = client.post("/admin/replicas/nope/drain", headers=admin)
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
