"""The local cluster: unprivileged processes, real streaming, idempotent up, crash-restart."""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.localcluster import Cluster
from app.localcluster.binaries import BinariesNotFoundError, find_binaries


@pytest.fixture
def solo(pg_dir: Path) -> Iterator[Cluster]:
    cluster = Cluster(pg_dir / "solo")
    try:
        yield cluster
    finally:
        cluster.destroy()


def test_replica_streams_from_a_slot(cluster: Cluster) -> None:
    primary = cluster.primary()
    assert (
        primary.sql("SELECT state FROM pg_stat_replication WHERE application_name = 'replica1'")
        == "streaming"
    )
    assert (
        primary.sql("SELECT active FROM pg_replication_slots WHERE slot_name = 'replica1'") == "t"
    )
    replica = cluster.replicas()[0]
    assert replica.sql("SELECT pg_is_in_recovery()") == "t"
    assert replica.sql("SHOW hot_standby_feedback") == "on"
    assert primary.sql("SHOW max_slot_wal_keep_size") == "1GB"
    assert "replication" in (primary.datadir / "pg_hba.conf").read_text()


def test_status_and_env(cluster: Cluster) -> None:
    rows = {row.name: row for row in cluster.status()}
    assert rows["primary"].role == "primary"
    assert rows["primary"].state == "running"
    assert rows["replica1"].role == "replica"
    assert rows["replica1"].lag_bytes is not None
    env = cluster.env()
    assert env["DATABASE_URL"].startswith("postgresql://trackr:")
    assert env["DATABASE_REPLICA_URLS"].startswith("replica1=postgresql://")


@pytest.mark.skipif(os.geteuid() != 0, reason="only root switches to an unprivileged user")
def test_servers_run_as_an_unprivileged_user(cluster: Cluster) -> None:
    pid_file = cluster.primary().datadir / "postmaster.pid"
    pid = int(pid_file.read_text().splitlines()[0])
    uid = os.stat(f"/proc/{pid}").st_uid
    assert uid != 0
    assert pwd.getpwuid(uid).pw_name == os.environ.get("TRACKR_PG_USER", "trackr-pg")


def test_up_is_idempotent_and_survives_a_crash(solo: Cluster) -> None:
    solo.up(replicas=0)
    port = solo.primary().port
    solo.primary().sql("CREATE TABLE survivor (id int)")
    solo.up(replicas=0)
    assert solo.primary().port == port
    solo.primary().stop("immediate")
    assert solo.status()[0].state == "stopped"
    solo.up(replicas=0)
    assert solo.primary().sql("SELECT count(*) FROM survivor") == "0"
    solo.down()
    assert not solo.primary().is_running()


def test_up_adds_replicas_to_an_existing_cluster(solo: Cluster) -> None:
    solo.up(replicas=0)
    solo.up(replicas=1)
    assert [row.role for row in solo.status()] == ["primary", "replica"]


def test_pg_bindir_must_be_complete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PG_BINDIR", str(tmp_path))
    with pytest.raises(BinariesNotFoundError, match="PG_BINDIR"):
        find_binaries()


def test_pgserver_binaries_are_found_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PG_BINDIR", raising=False)
    found = find_binaries()
    assert found.source == "pgserver wheel"
    assert "PostgreSQL) 16" in found.version()
