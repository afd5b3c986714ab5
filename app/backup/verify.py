"""`trackr backup verify`: prove the newest backup restores, by restoring it.

A replica's replay is paused for a moment at a position P and the figures are read there;
the newest backup is restored into a scratch node on a free port and replayed to exactly P
(stopping before the first record at or past P, as the replica did); the scratch node's
figures must be the replica's. Both sides see the same WAL, so under any write load the
figures agree exactly or the backup (or its archive) is wrong.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from app.backup.barman import BackupError, Barman
from app.backup.figures import ABSENT, TABLES_PRESENT, differences, figure_queries
from app.backup.restore import Target, restore
from app.localcluster import Cluster
from app.localcluster.cluster import APP_DB
from app.localcluster.ha import HaCluster
from app.localcluster.node import Node, NodeCommandError


@dataclass(frozen=True)
class Verification:
    backup_id: str
    position: str
    expected: dict[str, str]
    restored: dict[str, str]
    seconds: float

    @property
    def differences(self) -> list[str]:
        return differences(self.expected, self.restored, "expected")


def figures(node: Node) -> dict[str, str]:
    queries = figure_queries(node.sql(TABLES_PRESENT, dbname=APP_DB))
    return {name: node.sql(q, dbname=APP_DB) if q else ABSENT for name, q in queries.items()}


def _paused_figures(replica: Node, timeout: float = 30) -> tuple[str, dict[str, str]]:
    """The replica's replay position and its figures there, replay paused meanwhile."""
    replica.sql("SELECT pg_wal_replay_pause()")
    try:
        deadline = time.monotonic() + timeout
        while replica.sql("SELECT pg_get_wal_replay_pause_state()") != "paused":
            if time.monotonic() > deadline:
                raise BackupError(f"{replica.name} did not pause its replay in {timeout:.0f} s")
            time.sleep(0.02)
        position = replica.sql("SELECT pg_last_wal_replay_lsn()")
        return position, figures(replica)
    finally:
        replica.sql("SELECT pg_wal_replay_resume()")


def _running_replica(cluster: Cluster | HaCluster) -> Node:
    # Every HA node is a candidate: the leader is the one not in recovery.
    nodes = (
        [node.postgres for node in cluster.nodes]
        if isinstance(cluster, HaCluster)
        else cluster.replicas()
    )
    for replica in nodes:
        try:
            if replica.is_running() and replica.sql("SELECT pg_is_in_recovery()") == "t":
                return replica
        except NodeCommandError:
            continue
    raise BackupError(
        "verify compares the restore with a replica paused at the same position: start one "
        "(`trackr cluster up --replicas 1`; in an HA cluster, wait for a node to rejoin)"
    )


def verify(barman: Barman, cluster: Cluster | HaCluster) -> Verification:
    """Restore the newest backup into a scratch node and compare; the node is removed after."""
    started = time.monotonic()
    backups = [b for b in barman.backups() if b.status == "DONE"]
    if not backups:
        raise BackupError("there is no backup to verify: `trackr backup create` takes one")
    position, expected = _paused_figures(_running_replica(cluster))
    # Beside the repository, not in it: barman owns what is inside.
    scratch = Path(tempfile.mkdtemp(prefix="verify-", dir=barman.config.parent.parent))
    try:
        node = restore(barman, cluster, Target(lsn=position, exclusive=True), scratch / "data")
        try:
            restored = figures(node)
        finally:
            node.stop("immediate")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return Verification(
        backups[0].backup_id, position, expected, restored, time.monotonic() - started
    )
