"""Session-wide real PostgreSQL primary + streaming replica, migrated once.

Tests commit real data (replication ships only committed data), so each test that touches
products starts from a truncated table instead of a rolled-back transaction.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from alembic.config import Config
from fastapi.testclient import TestClient

from alembic import command
from app.config import Settings
from app.localcluster import Cluster
from app.main import create_app
from tests.browser import browser  # noqa: F401 (the fixture, for every browser test)
from tests.redis_server import redis  # noqa: F401 (the fixture, for every Redis test)
from tests.support import TEST_SECRET, bearer, wait_replicated

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


@contextmanager
def private_dir(prefix: str) -> Iterator[Path]:
    """A directory for PostgreSQL data outside pytest's base temp dir.

    The unprivileged server user must traverse every parent; pytest resets its own root to
    0700 whenever another pytest session starts, which would cut a running cluster off.
    """
    path = Path(tempfile.mkdtemp(prefix=f"trackr-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def pg_dir(request: pytest.FixtureRequest) -> Iterator[Path]:
    with private_dir(request.node.name[:40]) as path:
        yield path


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    with private_dir("session") as path:
        cluster = Cluster(path / "cluster")
        cluster.up(replicas=1)
        try:
            yield cluster
        finally:
            cluster.destroy()


@pytest.fixture(scope="session")
def migrated(cluster: Cluster) -> Cluster:
    command.upgrade(alembic_config(cluster.env()["DATABASE_URL"]), "head")
    return cluster


def make_settings(cluster: Cluster, **overrides: object) -> Settings:
    env = cluster.env()
    values: dict[str, object] = {
        "app_env": "test",
        "database_url": env["DATABASE_URL"],
        "database_replica_urls": env["DATABASE_REPLICA_URLS"],
        "jwt_secret": TEST_SECRET,
        "log_format": "console",
        "log_level": "WARNING",
        "replica_check_interval_seconds": 0.2,
        # The routes' own behaviour, read by read: tests/cache turns the cache on (and the
        # `trackr serve` processes of the drills run with it, as deployed).
        "cache_enabled": False,
        **overrides,
    }
    return Settings.model_validate(values)


@pytest.fixture
def settings(migrated: Cluster) -> Settings:
    return make_settings(migrated)


@pytest.fixture
def clean_db(migrated: Cluster) -> Cluster:
    migrated.primary().sql(
        "TRUNCATE products, routing_overrides, idempotency_keys RESTART IDENTITY CASCADE",
        dbname="trackr",
    )
    wait_replicated(migrated)
    return migrated


@pytest.fixture
def auth(settings: Settings) -> dict[str, str]:
    """Headers of a client allowed to write products."""
    return bearer(settings, "products:write")


@pytest.fixture
def client(settings: Settings, clean_db: Cluster) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client
