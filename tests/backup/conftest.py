"""What the backup tests share: the `trackr` command as a user runs it, and a local cluster
started, migrated, seeded and backed up as `make run` and `trackr backup create` do it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from app.backup.local import repository_for
from app.localcluster import Cluster
from app.localcluster.node import Node
from tests.backup.writer import Writer
from tests.conftest import private_dir

TRACKR = str(Path(sys.executable).parent / "trackr")


def trackr(
    *args: str, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TRACKR, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )


@contextmanager
def backed_up_cluster(name: str, env: dict[str, str] | None = None) -> Iterator[Cluster]:
    """A new cluster with WAL streaming from its start, migrated, seeded, one base backup.
    `env`: what `trackr` runs with besides (BACKUP_* for an S3 copy, say)."""
    with private_dir(name) as path:
        directory = path / "cluster"
        up = trackr("cluster", "up", "--dir", str(directory), env=env)
        assert up.returncode == 0, up.stderr
        assert f"backups: WAL streaming to {repository_for(directory)}" in up.stdout
        try:
            cluster_env = Cluster(directory).env()
            for step in (("db", "upgrade"), ("seed",)):
                done = trackr(*step, env=cluster_env)
                assert done.returncode == 0, done.stderr
            created = trackr("backup", "create", "--dir", str(directory), env=env)
            assert created.returncode == 0, created.stdout + created.stderr
            assert ": DONE," in created.stdout
            yield Cluster(directory)
        finally:
            trackr("cluster", "down", "--dir", str(directory), env=env)


def restored_node(cluster: Cluster, datadir: Path) -> Node:
    """The node `trackr backup restore` started in `datadir` (its port from postmaster.pid)."""
    port = int((datadir / "postmaster.pid").read_text().splitlines()[3])
    return Node(
        name=datadir.name, port=port, base=cluster.base, bins=cluster.bins,
        run_as=cluster.run_as, data_path=datadir,
    )  # fmt: skip


def assert_holds_the_writes_before(
    node: Node, writer: Writer, moment: datetime
) -> tuple[set[int], set[int]]:
    """`node` holds every drill write acknowledged before `moment` and none sent after it.
    Returns (the drill rows it holds, the writes acknowledged before `moment`)."""
    held = product_ids(node, "name LIKE 'drill %'")
    at = moment.timestamp()
    before = {w.id for w in writer.acknowledged if w.acked < at}
    after = {w.id for w in writer.acknowledged if w.started > at}
    assert before <= held, f"{len(before - held)} writes acknowledged before T missing"
    assert not held & after, f"{len(held & after)} writes sent after T restored"
    return held, before


def product_ids(node: Node, where: str = "true") -> set[int]:
    listed = node.sql(f"SELECT string_agg(id::text, ',') FROM products WHERE {where}", "trackr")
    return {int(i) for i in listed.split(",")} if listed else set()
