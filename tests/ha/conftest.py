"""One real HA cluster (etcd + two Patroni nodes) and one `trackr serve` on it per session."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from app.localcluster.ha import HaCluster
from tests.conftest import private_dir
from tests.ha.drills import HaStage, serve
from tests.ha.haproxy import HaProxyDb

if not shutil.which("etcd") and not os.environ.get("CI"):
    pytest.skip("Debian's etcd-server is not installed (`make ha-deps`)", allow_module_level=True)


@pytest.fixture(scope="session")
def ha_cluster() -> Iterator[HaCluster]:
    with private_dir("ha") as path:
        cluster = HaCluster(path / "cluster")
        cluster.up(nodes=2)
        try:
            yield cluster
        finally:
            cluster.destroy()


@pytest.fixture(scope="session")
def ha_stage(ha_cluster: HaCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HaStage]:
    log = tmp_path_factory.mktemp("ha") / "server.log"  # kept by pytest after the run
    stage = serve(ha_cluster, log, {})
    try:
        yield stage
    finally:
        stage.server.stop()


@pytest.fixture(scope="session")
def proxied_stage(
    ha_cluster: HaCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HaStage]:
    """trackr on HAProxy's leader and replica ports (deploy/patroni/haproxy.cfg)."""
    if not shutil.which("haproxy") and not os.environ.get("CI"):
        pytest.skip("HAProxy is not installed")
    logs = tmp_path_factory.mktemp("ha-haproxy")
    proxy = HaProxyDb(ha_cluster, logs)
    proxy.start()
    stage = serve(ha_cluster, logs / "server.log", {}, env=proxy.env())
    try:
        yield stage
    finally:
        stage.server.stop()
        proxy.stop()
