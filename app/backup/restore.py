"""Restore a backup into a new data directory and start it there: a restore never touches
the cluster it came from, nor any directory that holds something."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from app.backup.barman import BackupError, Barman
from app.localcluster import Cluster
from app.localcluster.node import Node, NodeCommandError
from app.localcluster.osuser import ensure_traversable
from app.localcluster.ports import free_port

log = logging.getLogger("trackr.backup")


@dataclass(frozen=True)
class Target:
    """Where replay stops: a time, a WAL position, or (neither) the archive's end."""

    time: datetime | None = None
    lsn: str | None = None
    exclusive: bool = False  # stop before the target's own record

    def describe(self) -> str:
        if self.time is not None:
            return f"time {self.time.isoformat()}"
        return f"WAL position {self.lsn}" if self.lsn else "the end of the archive"


def restore(
    barman: Barman,
    cluster: Cluster,
    target: Target,
    target_dir: Path,
    port: int | None = None,
    timeout: float = 600,
) -> Node:
    """Restore the latest backup before the target into `target_dir`, replay the archive to
    the target, and start the node on `port` (a free one by default) as a primary of its own.
    """
    target_dir = target_dir.resolve()
    if target_dir.exists() and any(target_dir.iterdir()):
        raise BackupError(f"{target_dir} is not empty: a restore only goes to a new directory")
    _archive_until_now(barman, cluster)
    barman.recover(
        target_dir, target_time=target.time, target_lsn=target.lsn, exclusive=target.exclusive
    )
    if cluster.run_as.is_switching:
        ensure_traversable(target_dir)
        cluster.run_as.chown(target_dir)
    target_dir.chmod(0o700)
    node = Node(
        name=target_dir.name,
        port=port or free_port(),
        base=cluster.base,
        bins=cluster.bins,
        run_as=cluster.run_as,
        data_path=target_dir,
        log_path=target_dir / "restore.log",
    )
    try:
        node.start()
        _wait_promoted(node, timeout)
    except NodeCommandError as exc:
        raise BackupError(f"the restored node did not start: {exc} (see {node.logfile})") from exc
    return node


def _archive_until_now(barman: Barman, cluster: Cluster) -> None:
    """Everything written until now goes to the archive first, so any target up to this
    moment can be reached. With the primary gone the archive ends where streaming stopped,
    the segment it was filling included."""
    primary = cluster.primary()
    answering = primary.run(
        "pg_isready", "-q", "-t", "3", "-h", str(primary.socket_dir), "-p", str(primary.port),
        check=False,
    )  # fmt: skip
    if answering.returncode != 0:
        log.warning("the primary does not answer: restoring from the archive as it stands")
        return
    try:
        barman.archive_current_wal()
    except BackupError as exc:
        log.warning("could not archive the current WAL (%s): restoring from the archive", exc)


def _wait_promoted(node: Node, timeout: float) -> None:
    """Replay ends at the target (or the archive's end) and the node promotes itself."""
    deadline = time.monotonic() + timeout
    while node.sql("SELECT pg_is_in_recovery()") != "f":
        if time.monotonic() > deadline:
            raise BackupError(f"the restored node was still replaying after {timeout:.0f} s")
        time.sleep(0.1)
