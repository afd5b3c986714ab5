from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from app.auth import create_token
from app.config import Settings
from app.localcluster import Cluster
from app.localcluster.cluster import APP_DB
from tests.faults.harness import SECRET, ApiServer
from tests.monitor.backends import start_backend, truncate


@pytest.fixture(scope="session")
def write_token() -> str:
    """Signed for the backends these tests start (they share the fault harness's secret)."""
    return create_token(Settings(app_env="test", jwt_secret=SECRET), ["products:write"], 3600)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("monitor-logs")


@pytest.fixture
def pair(migrated: Cluster, logs: Path) -> Iterator[tuple[ApiServer, ApiServer]]:
    """Two backends on the same data."""
    truncate(migrated, APP_DB)
    with ThreadPoolExecutor(2) as starting:
        a, b = starting.map(lambda name: start_backend(migrated, logs, name), ("a", "b"))
    servers = (a, b)
    yield servers
    for server in servers:
        server.stop()
