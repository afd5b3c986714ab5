"""Restore a backup into a new data directory and start it there: a restore never touches
the cluster it came from, nor any directory that holds something."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from app.backup.barman import BackupError, Barman
from app.backup.cloud import CloudBackup, CloudCopy, write_recovery_settings
from app.localcluster import Cluster
from app.localcluster.binaries import PgBinaries
from app.localcluster.ha import HaCluster
from app.localcluster.node import Node, NodeCommandError
from app.localcluster.osuser import RunAs, ensure_traversable
from app.localcluster.ports import free_port

log = logging.getLogger("trackr.backup")
RECOVERY_SETTINGS = (
    "restore_command", "recovery_end_command", "recovery_target", "recovery_target_lsn",
    "recovery_target_name", "recovery_target_time", "recovery_target_xid",
    "recovery_target_inclusive", "recovery_target_timeline", "recovery_target_action",
)  # fmt: skip


class Host(Protocol):
    """What starts a restored node: a local cluster, or a machine with PostgreSQL's binaries
    (app/backup/explicit.py)."""

    @property
    def base(self) -> Path: ...
    @property
    def bins(self) -> PgBinaries: ...
    @property
    def run_as(self) -> RunAs: ...


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
    cluster: Host,
    target: Target,
    target_dir: Path,
    port: int | None = None,
    timeout: float = 600,
) -> Node:
    """Restore the latest backup before the target into `target_dir`, replay the archive to
    the target, and start the node on `port` (a free one by default) as a primary of its own.
    """
    target_dir = _new_directory(target_dir)
    _archive_until_now(barman, cluster)
    barman.recover(
        target_dir, target_time=target.time, target_lsn=target.lsn, exclusive=target.exclusive
    )
    return _start_restored(cluster, target_dir, port, timeout)


def restore_from_copy(
    copy: CloudCopy,
    barman: Barman | None,
    cluster: Host,
    target: Target,
    target_dir: Path,
    port: int | None = None,
    timeout: float = 600,
) -> Node:
    """As `restore`, from the S3 copy alone: the newest backup that ended before the target,
    then every WAL segment the copy holds after it. `barman`: the local repository, when it
    is still there, ships what the primary wrote until now to the copy first."""
    target_dir = _new_directory(target_dir)
    if barman is not None:
        _archive_until_now(barman, cluster)
    backup = _backup_before(copy.backups(), target)
    fetched = copy.restore(backup, target_dir)
    log.info("restored backup %s from %s, then %d WAL files", backup.backup_id, copy.url, fetched)
    write_recovery_settings(
        target_dir, target_time=target.time, target_lsn=target.lsn, exclusive=target.exclusive
    )
    return _start_restored(cluster, target_dir, port, timeout)


def _backup_before(backups: list[CloudBackup], target: Target) -> CloudBackup:
    """The newest finished backup that ended before a time target (any, for the others)."""
    done = [b for b in backups if b.status == "DONE" and b.end_time is not None]
    if target.time is not None:
        done = [b for b in done if b.end_time is not None and b.end_time <= target.time]
    if not done:
        raise BackupError(f"the S3 copy holds no finished backup before {target.describe()}")
    return done[0]


def _new_directory(target_dir: Path) -> Path:
    target_dir = target_dir.resolve()
    if target_dir.exists() and any(target_dir.iterdir()):
        raise BackupError(f"{target_dir} is not empty: a restore only goes to a new directory")
    return target_dir


def _start_restored(cluster: Host, target_dir: Path, port: int | None, timeout: float) -> Node:
    node = Node(
        name=target_dir.name,
        port=port or free_port(),
        base=cluster.base,
        bins=cluster.bins,
        run_as=cluster.run_as,
        data_path=target_dir,
        log_path=target_dir / "restore.log",
    )
    return _start(cluster, node, timeout)


def _start(cluster: Host, node: Node, timeout: float) -> Node:
    if cluster.run_as.is_switching:
        ensure_traversable(node.datadir)
        cluster.run_as.chown(node.datadir)
    node.datadir.chmod(0o700)
    try:
        node.start()
        _wait_promoted(node, timeout)
        _forget_recovery_settings(node)
    except NodeCommandError as exc:
        raise BackupError(f"the restored node did not start: {exc} (see {node.logfile})") from exc
    return node


@dataclass(frozen=True)
class InPlace:
    primary: Node
    kept: Path  # the data directory the primary had before


def restore_in_place(
    barman: Barman, cluster: Cluster, target: Target, timeout: float = 600
) -> InPlace:
    """Replace the cluster's data with the backup replayed to `target`, on the same ports.

    Nothing is deleted that cannot be rebuilt: the primary's data directory is moved aside
    (and named in the result); the replicas are cloned again from the restored primary; the
    WAL streamer starts again on the primary's new timeline.
    """
    _archive_until_now(barman, cluster)
    barman.stop_streaming()
    cluster.down()
    primary = cluster.primary()
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    kept = primary.datadir.with_name(f"{primary.datadir.name}.before-restore-{stamp}")
    primary.datadir.rename(kept)
    barman.recover(
        primary.datadir, target_time=target.time, target_lsn=target.lsn, exclusive=target.exclusive
    )
    _start(cluster, primary, timeout)
    cluster.clone_replicas_again()
    barman.restart_streaming()
    return InPlace(primary, kept)


def _archive_until_now(barman: Barman, cluster: Host) -> None:
    """Everything written until now goes to the archive first, so any target up to this
    moment can be reached. With the primary gone the archive ends where streaming stopped,
    the segment it was filling included. (A server trackr does not run is asked through
    barman's own connection, which fails at once when it is down.)"""
    if isinstance(cluster, Cluster | HaCluster):
        primary = _writer(cluster)
        if primary is None:
            log.warning("no node leads: restoring from the archive as it stands")
            return
        answering = primary.run(
            "pg_isready", "-q", "-t", "3", "-h", str(primary.socket_dir), "-p", str(primary.port),
            check=False,
        )  # fmt: skip
        if answering.returncode != 0:
            log.warning("the primary does not answer: restoring from the archive as it stands")
            return
    try:
        barman.start_streaming()  # again, if it stopped (a failover ends the stream)
        barman.archive_current_wal()
    except BackupError as exc:
        log.warning("could not archive the current WAL (%s): restoring from the archive", exc)


def _writer(cluster: Cluster | HaCluster) -> Node | None:
    if isinstance(cluster, HaCluster):
        leader = cluster.leader()
        return cluster.node(leader.name).postgres if leader is not None else None
    return cluster.primary()


def _forget_recovery_settings(node: Node) -> None:
    """The restore's settings (its target, its restore_command) leave postgresql.auto.conf
    once it is over: a replica cloned from the node would copy them, and stop at the target."""
    for name in RECOVERY_SETTINGS:
        node.sql(f"ALTER SYSTEM RESET {name}")  # one per statement: never in a transaction
    node.sql("SELECT pg_reload_conf()")


def _wait_promoted(node: Node, timeout: float) -> None:
    """Replay ends at the target (or the archive's end) and the node promotes itself."""
    deadline = time.monotonic() + timeout
    while node.sql("SELECT pg_is_in_recovery()") != "f":
        if time.monotonic() > deadline:
            raise BackupError(f"the restored node was still replaying after {timeout:.0f} s")
        time.sleep(0.1)
