"""What a `trackr backup` command works on, found from the BACKUP_* variables and the
cluster directory: the settings, the local cluster and its barman (or BACKUP_BARMAN_HOME's
server), the S3 copy, the dump store, PostgreSQL's client tools, the databases a job reads,
locks and restores into. Whatever is missing or wrong ends the command with a message that
says what to set (app.cli_common.fail)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli_common import fail

if TYPE_CHECKING:
    from app.backup.barman import Barman
    from app.backup.cloud import CloudCopy
    from app.backup.dump import PgTool
    from app.backup.explicit import RestoreHost
    from app.backup.settings import BackupSettings
    from app.localcluster import Cluster
    from app.localcluster.ha import HaCluster

SCRATCH_DB = "trackr_verify"  # verify --method dump's scratch database on the local cluster


def load_settings() -> BackupSettings:
    from app.backup.barman import BackupError
    from app.backup.settings import load

    try:
        return load()
    except BackupError as exc:
        raise fail(str(exc)) from exc


def chosen_method(method: str | None) -> str:
    """--method, else BACKUP_METHOD."""
    return method or load_settings().method


def find_cluster(directory: Path):  # type: ignore[no-untyped-def]
    """The plain or HA cluster in `directory` (sites keep no archive of their own yet)."""
    from app.localcluster import Cluster
    from app.localcluster.ha import HaCluster

    for kind in (HaCluster, Cluster):
        cluster = kind(directory)
        if cluster.exists:
            return cluster
    return None


def open_barman(directory: Path):  # type: ignore[no-untyped-def]
    """(the local cluster, its barman), or (None, barman) for BACKUP_BARMAN_HOME's server."""
    from app.backup.local import local_barman

    settings = load_settings()
    if settings.barman_home is not None:
        from app.backup.explicit import explicit_barman

        try:
            return None, explicit_barman(settings)
        except known_errors() as exc:
            raise fail(str(exc)) from exc
    cluster = find_cluster(directory)
    if cluster is None:
        raise fail(
            f"no local cluster at {directory}: run `make run` or `trackr cluster up` first "
            "(or pass --dir; for a database trackr does not run, use --method dump)"
        )
    try:
        return cluster, local_barman(cluster)
    except known_errors() as exc:
        raise fail(str(exc)) from exc


def s3_copy() -> CloudCopy:
    """The S3 copy of the local repository (BACKUP_REPOSITORY=s3://…)."""
    from app.backup.local import cloud_copy

    try:
        copy = cloud_copy()
    except known_errors() as exc:
        raise fail(str(exc)) from exc
    if copy is None:
        raise fail("no S3 copy: set BACKUP_REPOSITORY=s3://bucket/prefix (docs/backups.md)")
    return copy


def known_errors() -> tuple[type[Exception], ...]:
    from app.backup.barman import BackupError
    from app.localcluster import ClusterError
    from app.localcluster.node import NodeCommandError

    return BackupError, ClusterError, NodeCommandError


def dump_source_url(directory: Path) -> str:
    """The database a dump reads: BACKUP_DATABASE_URL, DATABASE_URL, or the local cluster's
    primary."""
    from app.db.urls import normalize_dsn

    url = load_settings().database_url or os.environ.get("DATABASE_URL")
    if url is None and (cluster := find_cluster(directory)) is not None:
        url = cluster.env()["DATABASE_URL"]
    if url is None:
        raise fail("which database? set BACKUP_DATABASE_URL or DATABASE_URL")
    return normalize_dsn(url)


def open_dump_store(directory: Path):  # type: ignore[no-untyped-def]
    """BACKUP_REPOSITORY, or beside the local cluster's barman repository."""
    from app.backup.store import open_store

    settings = load_settings()
    repository = settings.repository
    if repository is None:
        cluster = find_cluster(directory)
        if cluster is None:
            raise fail("where do dumps go? set BACKUP_REPOSITORY (a directory or s3://bucket/…)")
        from app.backup.local import repository_for

        repository = str(repository_for(cluster.base).with_name(cluster.base.name + "-dumps"))
    return open_store(repository, settings.s3_endpoint_url)


def pg_tool(name: str) -> PgTool:
    from app.backup.dump import PgTool
    from app.backup.local import pg_client_tool

    try:
        return PgTool(pg_client_tool(name), load_settings().tool_timeout_seconds)
    except FileNotFoundError as exc:
        raise fail(str(exc)) from exc


def surviving_barman(directory: Path) -> Barman | None:
    """barman for the repository if it is still there (it ships the WAL written until now to
    the copy first); None once it is lost."""
    from app.backup.local import SERVER, repository_for

    home = load_settings().barman_home
    if home is None:
        cluster = find_cluster(directory)
        home = repository_for(cluster.base) if cluster is not None else None
    if home is None or not (home / SERVER).is_dir():
        return None
    barman: Barman = open_barman(directory)[1]
    return barman


def restore_host(target_dir: Path) -> RestoreHost:
    from app.backup.explicit import RestoreHost

    try:
        return RestoreHost.beside(target_dir)
    except known_errors() as exc:
        raise fail(str(exc)) from exc


def job_database_url(cluster: Cluster | HaCluster | None) -> str:
    """Where a physical job takes its lock and records its outcome: the cluster's database,
    or BACKUP_DATABASE_URL's."""
    from app.db.urls import normalize_dsn

    if cluster is not None:
        return cluster.env()["DATABASE_URL"]
    url = load_settings().database_url
    if url is None:
        raise fail("set BACKUP_DATABASE_URL")
    return normalize_dsn(url)


def scratch_url(directory: Path) -> str:
    """BACKUP_VERIFY_URL, or a `trackr_verify` database on the local cluster."""
    from app.db.urls import normalize_dsn

    url = load_settings().verify_url
    if url is not None:
        return normalize_dsn(url)
    cluster = find_cluster(directory)
    if cluster is None:
        raise fail(
            "verify restores into a scratch database: set BACKUP_VERIFY_URL to an empty "
            "database of its own (wiped before each verify)"
        )
    cluster.create_database(SCRATCH_DB)
    return normalize_dsn(cluster.env(SCRATCH_DB)["DATABASE_URL"])
