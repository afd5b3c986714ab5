"""`trackr cluster …`: the local clusters (plain, HA on Patroni, sites in namespaces) and
their drills."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.cli_common import ClusterDir, fail

cluster_app = typer.Typer(
    help="A local primary + streaming replicas from PostgreSQL binaries.", no_args_is_help=True
)


def open_cluster(directory: Path):  # type: ignore[no-untyped-def]
    """The cluster kept in `directory`: sites if `up --sites` made it, an HA one if
    `up --ha` did, else the plain one."""
    from app.localcluster import Cluster
    from app.localcluster.ha import HaCluster
    from app.localcluster.sites import SitesCluster

    for kind in (SitesCluster, HaCluster):
        found = kind(directory)
        if found.exists:
            return found
    return Cluster(directory)


def _sites_cluster(directory: Path):  # type: ignore[no-untyped-def]
    from app.localcluster.sites import SitesCluster

    cluster = SitesCluster(directory)
    if not cluster.exists:
        raise fail(f"no sites at {directory}; run `trackr cluster up --sites …` first")
    return cluster


def _ha_cluster(directory: Path):  # type: ignore[no-untyped-def]
    from app.localcluster.ha import HaCluster

    cluster = HaCluster(directory)
    if not cluster.exists:
        raise fail(f"no HA cluster at {directory}; run `trackr cluster up --ha` first")
    return cluster


def _cluster_errors() -> tuple[type[Exception], ...]:
    from app.localcluster import ClusterError
    from app.localcluster.binaries import BinariesNotFoundError
    from app.localcluster.etcd import EtcdNotFoundError
    from app.localcluster.netns import NetnsError

    return ClusterError, BinariesNotFoundError, EtcdNotFoundError, NetnsError, RuntimeError


@cluster_app.command("up")
def cluster_up(
    replicas: Annotated[int, typer.Option(min=0, max=8, help="Streaming replicas")] = 1,
    directory: ClusterDir = Path(".data/cluster"),
    ha: Annotated[
        bool, typer.Option("--ha", help="etcd + Patroni nodes with automatic failover")
    ] = False,
    nodes: Annotated[int, typer.Option(min=2, max=3, help="Patroni nodes (with --ha)")] = 2,
    sites: Annotated[
        str | None,
        typer.Option(
            help="Sites, one network namespace each with etcd, Patroni and the API, e.g. "
            "render,railway,fly (the first leads; root only)"
        ),
    ] = None,
    rtt_ms: Annotated[
        float,
        typer.Option(
            min=0,
            max=1000,
            help="With sites: round-trip time added between sites (a userspace "
            "relay; this kernel has no netem)",
        ),
    ] = 0,
) -> None:
    """Start (creating if needed) a primary and N streaming replicas on free loopback ports."""
    from app.localcluster.ha import HaCluster

    if sites is not None:
        _sites_up(directory, [s.strip() for s in sites.split(",") if s.strip()], rtt_ms)
        return
    cluster = HaCluster(directory) if ha else open_cluster(directory)
    try:
        typer.echo(f"PostgreSQL: {cluster.describe_binaries()}")
        if isinstance(cluster, HaCluster):
            from app.backup.barman import find_barman

            cluster.up(nodes, backup_slot=find_barman() is not None)
        else:
            cluster.up(replicas)
        lines = cluster.status_lines()
    except _cluster_errors() as exc:
        raise fail(str(exc)) from exc
    for line in lines:
        typer.echo(line)
    _stream_wal(cluster)


def _stream_wal(cluster) -> None:  # type: ignore[no-untyped-def]
    """Archive the cluster's WAL continuously from the start, so `trackr backup create`
    works with no other step. Without barman the cluster still runs, without backups."""
    from app.backup.barman import BackupError, find_barman
    from app.backup.local import cloud_copy, local_barman

    if find_barman() is None:
        typer.echo("backups: off (barman is not installed: `make backup-deps`)")
        return
    try:
        barman = local_barman(cluster)
        barman.start_streaming()
    except BackupError as exc:
        typer.secho(f"backups: WAL streaming did not start: {exc}", fg=typer.colors.YELLOW)
        return
    copy = cloud_copy(barman.executable)
    copied = f", copied to {copy.url}" if copy is not None else ""
    typer.echo(f"backups: WAL streaming to {barman.config.parent}{copied}")


def _sites_up(directory: Path, names: list[str], rtt_ms: float) -> None:
    from app.cli_common import dev_secret
    from app.localcluster.sites import SitesCluster

    cluster = SitesCluster(directory)
    try:
        typer.echo(f"PostgreSQL: {cluster.describe_binaries()}; sites: {', '.join(names)}")
        cluster.up(names, {"JWT_SECRET": dev_secret()}, rtt_ms=rtt_ms)
        lines = cluster.status_lines()
    except _cluster_errors() as exc:
        raise fail(str(exc)) from exc
    for line in lines:
        typer.echo(line)


@cluster_app.command("status")
def cluster_status(directory: ClusterDir = Path(".data/cluster")) -> None:
    """Each node's role, port, state and replay lag (and timeline, on an HA cluster)."""
    try:
        lines = open_cluster(directory).status_lines()
    except _cluster_errors() as exc:
        raise fail(str(exc)) from exc
    for line in lines:
        typer.echo(line)


@cluster_app.command("down")
def cluster_down(directory: ClusterDir = Path(".data/cluster")) -> None:
    """Stop every node cleanly (replicas first); data is kept."""
    stop_cluster(directory)
    typer.echo("cluster stopped")


def stop_cluster(directory: Path) -> None:
    """The WAL streamer (if backups are set up), then every node."""
    cluster = open_cluster(directory)
    _stop_wal_streaming(cluster)
    cluster.down()


def _stop_wal_streaming(cluster) -> None:  # type: ignore[no-untyped-def]
    from app.backup.barman import BackupError, find_barman
    from app.backup.local import local_barman, repository_for
    from app.localcluster.sites import SitesCluster

    configured = (repository_for(cluster.base) / "barman.conf").exists()
    if isinstance(cluster, SitesCluster) or not configured or find_barman() is None:
        return
    try:
        local_barman(cluster).stop_streaming()
    except BackupError as exc:
        typer.secho(f"backups: could not stop WAL streaming: {exc}", fg=typer.colors.YELLOW)


@cluster_app.command("env")
def cluster_env(
    directory: ClusterDir = Path(".data/cluster"),
    site: Annotated[
        str | None, typer.Option(help="With sites: the environment of this site's API node")
    ] = None,
) -> None:
    """Print DATABASE_URL and DATABASE_REPLICA_URLS for the shell: export $(trackr cluster env)."""
    from app.localcluster.sites import SitesCluster

    cluster = open_cluster(directory)
    try:
        if isinstance(cluster, SitesCluster):
            if site is None:
                raise fail("this cluster has sites: name one with --site")
            env = cluster.site_env(site)
        elif site is not None:
            raise fail(f"--site needs a cluster made with --sites; {directory} has none")
        else:
            env = cluster.env()
    except _cluster_errors() as exc:
        raise fail(str(exc)) from exc
    for key, value in env.items():
        typer.echo(f"{key}={value}")


@cluster_app.command("switchover")
def cluster_switchover(
    directory: ClusterDir = Path(".data/cluster"),
    candidate: Annotated[
        str | None, typer.Option(help="Node to promote (default: a streaming sync standby)")
    ] = None,
) -> None:
    """HA cluster: hand leadership to a replica through Patroni's REST API, cleanly."""
    cluster = _ha_cluster(directory)
    try:
        old = cluster.leader()
        new = cluster.switchover(candidate)
    except _cluster_errors() as exc:
        raise fail(str(exc)) from exc
    typer.echo(f"switched over: {old.name if old else '?'} -> {new.name}")


@cluster_app.command("kill-leader")
def cluster_kill_leader(
    directory: ClusterDir = Path(".data/cluster"),
    wait: Annotated[bool, typer.Option(help="Wait until Patroni promotes a new leader")] = True,
) -> None:
    """HA cluster drill: SIGKILL the leader's Patroni, postmaster and children at once."""
    import time

    cluster = _ha_cluster(directory)
    try:
        started = time.monotonic()
        old, pids = cluster.kill_leader()
        typer.echo(f"killed {old.name} (pids {' '.join(map(str, pids))})")
        if wait:
            new = cluster.wait_for_leader(90, not_named=old.name)
            typer.echo(f"new leader: {new.name} after {time.monotonic() - started:.1f}s")
    except _cluster_errors() as exc:
        raise fail(str(exc)) from exc
    typer.echo(f"`trackr cluster up --ha --dir {directory}` brings {old.name} back (pg_rewind)")


@cluster_app.command("partition")
def cluster_partition(
    site: Annotated[str, typer.Argument(help="The site to cut off from the others")],
    directory: ClusterDir = Path(".data/cluster"),
) -> None:
    """Sites drill: cut SITE off from the other sites (database, etcd, Patroni), silently;
    its own clients still reach its API."""
    try:
        _sites_cluster(directory).partition(site)
    except _cluster_errors() as exc:
        raise fail(str(exc)) from exc
    typer.echo(f"{site} is cut off from the other sites (`trackr cluster heal {site}` ends it)")


@cluster_app.command("heal")
def cluster_heal(
    site: Annotated[str, typer.Argument(help="The site to reconnect")],
    directory: ClusterDir = Path(".data/cluster"),
) -> None:
    """Sites drill: end SITE's partition."""
    try:
        _sites_cluster(directory).heal(site)
    except _cluster_errors() as exc:
        raise fail(str(exc)) from exc
    typer.echo(f"{site} reaches the other sites again")


@cluster_app.command("kill-site")
def cluster_kill_site(
    site: Annotated[str, typer.Argument(help="The site whose every process dies")],
    directory: ClusterDir = Path(".data/cluster"),
) -> None:
    """Sites drill: SIGKILL every process of SITE (etcd, Patroni, PostgreSQL, the API)."""
    try:
        pids = _sites_cluster(directory).kill_site(site)
    except _cluster_errors() as exc:
        raise fail(str(exc)) from exc
    typer.echo(f"killed {len(pids)} processes at {site}; `trackr cluster up --sites …` restarts it")
