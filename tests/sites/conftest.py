"""One three-site cluster per session (network namespaces; root only)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from app.localcluster.sites import SitesCluster
from tests.conftest import private_dir
from tests.faults.harness import SECRET
from tests.sites.drills import SitesStage, stage_for

SITES = ["render", "railway", "fly"]
GRACE = 3.0  # PARTITION_READ_GRACE_SECONDS of the sites' API nodes
API_ENV = {"JWT_SECRET": SECRET, "PARTITION_READ_GRACE_SECONDS": str(GRACE)}

if os.geteuid() != 0 or shutil.which("ip") is None:
    pytest.skip("sites need network namespaces: root and iproute2", allow_module_level=True)
if not shutil.which("etcd") and not os.environ.get("CI"):
    pytest.skip("Debian's etcd-server is not installed (`make ha-deps`)", allow_module_level=True)


@pytest.fixture(scope="session")
def sites() -> Iterator[SitesCluster]:
    with private_dir("sites") as path:
        cluster = SitesCluster(path / "cluster")
        try:
            cluster.up(SITES, API_ENV)
            yield cluster
        finally:
            cluster.down()


@pytest.fixture(scope="session")
def site_stage(sites: SitesCluster) -> SitesStage:
    return stage_for(sites, API_ENV)
