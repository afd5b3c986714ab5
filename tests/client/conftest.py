"""The client tests share three real backends on the test cluster: killed, hung, healthy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.localcluster import Cluster
from tests.client import typescript
from tests.client.backends import Trio, start_trio


# Package scope: the backends stop after the last client test, so their replica monitors'
# sessions do not linger into tests that count the cluster's sessions.
@pytest.fixture(scope="package")
def trio(migrated: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trio]:
    trio = start_trio(migrated, tmp_path_factory.mktemp("client"))
    try:
        yield trio
    finally:
        trio.stop()


@pytest.fixture(scope="session")
def typescript_client() -> Path:
    """The TypeScript client, built (clients/typescript/dist)."""
    return typescript.build()
