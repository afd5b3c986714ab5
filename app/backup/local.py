"""The local cluster's backups: a posix repository beside the cluster's directory
(`.data/backups/cluster` for `.data/cluster`, so deleting the cluster keeps its backups),
with WAL streamed from the moment `trackr cluster up` (or `make run`) starts it."""

from __future__ import annotations

from pathlib import Path

from app.backup.barman import BackupError, Barman, Server, find_barman, render_config
from app.localcluster import Cluster

SERVER = "trackr"


def repository_for(cluster_dir: Path) -> Path:
    return cluster_dir.resolve().parent / "backups" / cluster_dir.name


def local_barman(cluster: Cluster) -> Barman:
    """barman for `cluster`, its configuration written afresh (ports and passwords come from
    the cluster's state)."""
    executable = find_barman()
    if executable is None:
        raise BackupError("barman is not installed: run `make backup-deps` (or set TRACKR_BARMAN)")
    home = repository_for(cluster.base)
    home.mkdir(parents=True, exist_ok=True)
    port = cluster.primary().port
    user, password = cluster.replication_login()
    # The password goes in a passfile that libpq reads (barman's own connections, and
    # pg_receivewal's and pg_basebackup's): not in the configuration, nor in any command line.
    passfile = home / "pgpass"
    passfile.touch(mode=0o600)
    passfile.chmod(0o600)
    passfile.write_text(f"127.0.0.1:{port}:*:{user}:{password}\n")
    server = Server(
        name=SERVER,
        conninfo=cluster.superuser_conninfo(),
        streaming_conninfo=f"host=127.0.0.1 port={port} user={user}",
        bindir=cluster.bins.bindir,
    )
    config = home / "barman.conf"
    config.write_text(render_config(home, server))
    return Barman(executable, config, SERVER, passfile=passfile)
