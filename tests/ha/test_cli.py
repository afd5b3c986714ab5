"""`trackr cluster … --dir` on an HA cluster: status, env, and the errors a user can meet."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from app.cli import app
from app.localcluster.ha import HaCluster
from tests.conftest import private_dir

runner = CliRunner()


def test_status_and_env_work_as_for_the_plain_cluster(ha_cluster: HaCluster) -> None:
    status = runner.invoke(app, ["cluster", "status", "--dir", str(ha_cluster.base)])
    assert status.exit_code == 0, status.output
    assert "etcd     running" in status.output
    assert "leader" in status.output
    assert "sync_standby" in status.output
    env = runner.invoke(app, ["cluster", "env", "--dir", str(ha_cluster.base)])
    assert env.exit_code == 0, env.output
    values = dict(line.split("=", 1) for line in env.output.splitlines())
    assert values["DATABASE_URL"].endswith("/trackr?target_session_attrs=read-write")
    assert values["DATABASE_URL"].count("127.0.0.1:") == len(ha_cluster.nodes)
    assert len(values["DATABASE_REPLICA_URLS"].split(",")) == len(ha_cluster.nodes)
    assert len(values["PATRONI_URLS"].split(",")) == len(ha_cluster.nodes)


def test_drills_need_an_ha_cluster(tmp_path: Path) -> None:
    for command in ("switchover", "kill-leader"):
        result = runner.invoke(app, ["cluster", command, "--dir", str(tmp_path)])
        assert result.exit_code == 1
        assert "no HA cluster" in result.output


def test_ha_refuses_a_directory_holding_a_plain_cluster(tmp_path: Path) -> None:
    (tmp_path / "cluster.json").write_text("{}")
    result = runner.invoke(app, ["cluster", "up", "--ha", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "holds a plain cluster" in result.output


def test_three_nodes_from_nothing() -> None:
    with private_dir("ha3") as path:
        directory = str(path / "cluster")
        try:
            up = runner.invoke(app, ["cluster", "up", "--ha", "--nodes", "3", "--dir", directory])
            assert up.exit_code == 0, up.output
            roles = [line.split()[1] for line in up.output.splitlines() if line.startswith("node")]
            assert sorted(roles) == ["leader", "replica", "sync_standby"], up.output
        finally:
            runner.invoke(app, ["cluster", "down", "--dir", directory])
