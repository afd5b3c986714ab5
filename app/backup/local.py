"""The local cluster's backups: a posix repository beside the cluster's directory
(`.data/backups/cluster` for `.data/cluster`, so deleting the cluster keeps its backups),
with WAL streamed from the moment `trackr cluster up` (or `make run`) starts it.

An HA cluster (`--ha`) is backed up the same way through every node at once: libpq's
multi-host connection strings reach whichever node leads, and the slot barman streams through
is one Patroni keeps on every node, so after a failover the stream resumes on the new leader
where it stopped (on the new timeline)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from app.backup.barman import BackupError, Barman, Server, find_barman, render_config
from app.backup.cloud import CloudCopy
from app.backup.settings import load as load_settings
from app.localcluster import Cluster
from app.localcluster.binaries import BinariesNotFoundError, find_binaries
from app.localcluster.ha import HaCluster

SERVER = "trackr"


def repository_for(cluster_dir: Path) -> Path:
    return cluster_dir.resolve().parent / "backups" / cluster_dir.name


def local_barman(cluster: Cluster | HaCluster) -> Barman:
    """barman for `cluster`, its configuration written afresh (ports and passwords come from
    the cluster's state)."""
    executable = find_barman()
    if executable is None:
        raise BackupError("barman is not installed: run `make backup-deps` (or set TRACKR_BARMAN)")
    home = repository_for(cluster.base)
    home.mkdir(parents=True, exist_ok=True)
    user, password = cluster.replication_login()
    if isinstance(cluster, HaCluster):
        if cluster.backup_slot is None:
            raise BackupError(
                f"the HA cluster at {cluster.base} was made without the slot barman streams "
                "through: make it again with barman installed (`make backup-deps`)"
            )
        ports = cluster.pg_ports()
        superuser, superuser_password = cluster.superuser_login()
        logins = [(superuser, superuser_password), (user, password)]
        conninfo = _any_writer(ports, f"user={superuser} dbname=postgres")
    else:
        ports = [cluster.primary().port]
        logins = [(user, password)]
        conninfo = cluster.superuser_conninfo()
    # Passwords go in a passfile that libpq reads (barman's own connections, and
    # pg_receivewal's and pg_basebackup's): not in the configuration, nor in any command line.
    passfile = home / "pgpass"
    passfile.touch(mode=0o600)
    passfile.chmod(0o600)
    entries = [f"127.0.0.1:{port}:*:{name}:{secret}" for port in ports for name, secret in logins]
    passfile.write_text("".join(line + "\n" for line in entries))
    server = Server(
        name=SERVER,
        conninfo=conninfo,
        streaming_conninfo=_any_writer(ports, f"user={user}"),
        bindir=cluster.bins.bindir,
        retention_days=load_settings().retention_days,
    )
    copy = cloud_copy(executable)
    config = home / "barman.conf"
    config.write_text(render_config(home, server, copy.hook_settings() if copy else ""))
    return Barman(executable, config, SERVER, passfile=passfile)


def _any_writer(ports: list[int], rest: str) -> str:
    """A conninfo reaching whichever of the local `ports` accepts writes."""
    hosts = ",".join("127.0.0.1" for _ in ports)
    listed = ",".join(str(port) for port in ports)
    choose = " target_session_attrs=read-write" if len(ports) > 1 else ""
    return f"host={hosts} port={listed} {rest}{choose}"


def cloud_copy(executable: Path | None = None) -> CloudCopy | None:
    """The S3 copy of the local repository, when BACKUP_REPOSITORY names one (s3://…)."""
    settings = load_settings()
    if not settings.repository_is_s3 or settings.repository is None:
        return None
    barman = executable or find_barman()
    if barman is None:
        raise BackupError("barman is not installed: run `make backup-deps` (or set TRACKR_BARMAN)")
    return CloudCopy(
        url=settings.repository.rstrip("/"),
        server=SERVER,
        bindir=barman.parent,
        endpoint_url=settings.s3_endpoint_url,
        timeout=settings.tool_timeout_seconds,
    )


def pg_client_tool(name: str) -> str:
    """`pg_dump` or `pg_restore` of the PostgreSQL trackr runs locally (PG_BINDIR, the
    pgserver wheel's), else the one on PATH (the image's). It must be at least the server's
    major version: pg_dump refuses a newer server."""
    try:
        bindir = find_binaries().bindir
        if os.access(bindir / name, os.X_OK):
            return str(bindir / name)
    except BinariesNotFoundError:
        pass
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(
            f"{name} is not installed: install PostgreSQL's client (16 or newer) or set PG_BINDIR"
        )
    return found
