"""Real `trackr serve` backends for the monitor tests, on the test cluster's databases."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from alembic import command
from app.localcluster import Cluster
from app.localcluster.ports import free_port
from tests.conftest import alembic_config
from tests.faults.harness import SECRET, TRACKR, ApiServer
from tests.support import wait_replicated

APP_DB = "trackr"


def on_database(url: str, database: str) -> str:
    return re.sub(rf"/{APP_DB}(\?|$)", rf"/{database}\1", url)


def backend_env(cluster: Cluster, database: str = APP_DB) -> dict[str, str]:
    env = cluster.env()
    return {
        "APP_ENV": "test",
        "JWT_SECRET": SECRET,
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": on_database(env["DATABASE_URL"], database),
        "DATABASE_REPLICA_URLS": ",".join(
            on_database(entry, database) for entry in env["DATABASE_REPLICA_URLS"].split(",")
        ),
    }


def start_backend(
    cluster: Cluster, logs: Path, name: str, database: str = APP_DB, port: int | None = None
) -> ApiServer:
    server = ApiServer(backend_env(cluster, database), logs / f"monitor-{name}.log", port)
    server.start()
    return server


def create_database(cluster: Cluster, database: str) -> None:
    """A second trackr database on the same cluster (migrated, empty): a backend whose data
    has nothing to do with the first one's."""
    primary = cluster.primary()
    exists = primary.sql(f"SELECT 1 FROM pg_database WHERE datname = '{database}'")
    if not exists:
        primary.sql(f"CREATE DATABASE {database} OWNER {APP_DB}")
    command.upgrade(alembic_config(on_database(cluster.env()["DATABASE_URL"], database)), "head")


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


class MonitorProcess:
    """`trackr monitor` as a user runs it, on a free port."""

    def __init__(self, backends: dict[str, str], store: str, log_path: Path, **env: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        flags = [arg for name, url in backends.items() for arg in ("--backend", f"{name}={url}")]
        self.command = [
            TRACKR, "monitor", *flags, "--port", str(self.port), "--database-url", store,
        ]  # fmt: skip
        self.env = {**os.environ, "LOG_LEVEL": "WARNING", **env}
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> MonitorProcess:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"trackr monitor exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.base_url}/health/live", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("trackr monitor never answered")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(f"{self.base_url}/api/status", timeout=5).json()
        return body

    def wait_until(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.status()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"monitor state never matched: {self.status()}")
            time.sleep(0.1)
