"""An HA cluster's archive follows its leader: barman streams through a slot Patroni keeps on
every node, so after a switchover the stream resumes on the new leader (a new timeline) and
a point-in-time restore to a moment after the switchover holds exactly the rows of that
moment."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.backup.local import repository_for
from app.localcluster.ha import HaCluster
from tests.backup.conftest import assert_holds_the_writes_before, restored_node, trackr
from tests.backup.writer import writes_around_a_moment
from tests.conftest import private_dir


@contextmanager
def backed_up_ha_cluster(name: str) -> Iterator[HaCluster]:
    with private_dir(name) as path:
        directory = path / "cluster"
        up = trackr("cluster", "up", "--ha", "--dir", str(directory))
        try:
            assert up.returncode == 0, up.stdout + up.stderr
            assert f"backups: WAL streaming to {repository_for(directory)}" in up.stdout
            cluster = HaCluster(directory)
            for step in (("db", "upgrade"), ("seed",)):
                done = trackr(*step, env=cluster.env())
                assert done.returncode == 0, done.stderr
            created = trackr("backup", "create", "--dir", str(directory))
            assert created.returncode == 0, created.stdout + created.stderr
            yield cluster
        finally:
            trackr("cluster", "down", "--dir", str(directory))


def test_a_restore_replays_across_a_switchover(pg_dir: Path) -> None:
    with backed_up_ha_cluster("ha-archive") as cluster:
        first_leader = cluster.leader()
        assert first_leader is not None
        moved = trackr("cluster", "switchover", "--dir", str(cluster.base))
        assert moved.returncode == 0, moved.stdout + moved.stderr
        new_leader = cluster.wait_for_leader(not_named=first_leader.name)
        cluster.wait_healthy(len(cluster.nodes))  # the old leader back, as a replica
        verified = trackr("backup", "verify", "--dir", str(cluster.base))
        assert verified.returncode == 0, verified.stdout + verified.stderr
        writer, moment = writes_around_a_moment(cluster.env()["DATABASE_URL"])
        leader_node = cluster.node(new_leader.name).postgres
        leader_node.sql("DELETE FROM products WHERE category = 'mac'", "trackr")

        target = pg_dir / "restored-ha"
        restored = trackr(
            "backup", "restore", "--dir", str(cluster.base), "--to-time", moment.isoformat(),
            "--target-dir", str(target),
        )  # fmt: skip
        assert restored.returncode == 0, restored.stdout + restored.stderr
        node = restored_node(cluster, target)  # type: ignore[arg-type]
        try:
            _, before = assert_holds_the_writes_before(node, writer, moment)
            assert before, "the writer wrote nothing before T"
            assert node.sql("SELECT count(*) FROM products WHERE category = 'mac'", "trackr") != "0"
        finally:
            node.stop("fast")
