"""Real `trackr serve` backends for the monitor tests, on the test cluster's databases."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from alembic import command
from app.localcluster import Cluster
from app.localcluster.cluster import APP_DB
from app.localcluster.ports import free_port
from tests.conftest import alembic_config
from tests.faults.harness import ApiServer, TrackrProcess, api_env
from tests.support import wait_replicated


def start_backend(
    cluster: Cluster, logs: Path, name: str, database: str = APP_DB, port: int | None = None
) -> ApiServer:
    server = ApiServer(api_env(cluster, database), logs / f"monitor-{name}.log", port)
    server.start()
    return server


def start_degraded_backend(
    cluster: Cluster, logs: Path, name: str, port: int | None = None
) -> ApiServer:
    """A backend whose primary is out of reach (its DATABASE_URL names a port nothing listens
    on) while its replica serves: writes fail, reads work, /health says degraded."""
    env = api_env(cluster)
    dead = urlsplit(env["DATABASE_URL"])._replace(
        netloc=urlsplit(env["DATABASE_URL"]).netloc.rsplit(":", 1)[0] + f":{free_port()}"
    )
    server = ApiServer(
        {**env, "DATABASE_URL": urlunsplit(dead)}, logs / f"monitor-{name}.log", port
    )
    server.start()
    return server


def create_database(cluster: Cluster, database: str) -> None:
    """A second trackr database on the same cluster (migrated): a backend whose data has
    nothing to do with the first one's."""
    cluster.create_database(database)
    command.upgrade(alembic_config(cluster.env(database)["DATABASE_URL"]), "head")


def truncate(cluster: Cluster, database: str) -> None:
    cluster.primary().sql("TRUNCATE products RESTART IDENTITY CASCADE", dbname=database)
    wait_replicated(cluster)


def add_products(server: ApiServer, token: str, count: int, category: str = "mac") -> None:
    body = {
        "category": category,
        "name": "monitor test",
        "price": 10.0,
        "attributes": {"model": "Mac mini", "chip": "M2", "year": 2023, "ram_gb": 8},
    }
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(count):
        response = httpx.post(f"{server.base_url}/api/products", json=body, headers=headers)
        assert response.status_code == 201, response.text


class MonitorProcess(TrackrProcess):
    """`trackr monitor` as a user runs it, on a free port."""

    ready_path = "/health/live"

    def __init__(self, backends: dict[str, str], store: str, log_path: Path, **env: str) -> None:
        flags = [arg for name, url in backends.items() for arg in ("--backend", f"{name}={url}")]
        args = ["monitor", *flags, "--database-url", store]
        super().__init__(args, {"LOG_LEVEL": "WARNING", **env}, log_path)

    def __enter__(self) -> MonitorProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(f"{self.base_url}/api/status", timeout=5).json()
        return body

    def wait_until(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.status()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"monitor state never matched: {self.status()}")
            time.sleep(0.1)
