"""`trackr backup …`: base backups, their list, and point-in-time restores of the local
cluster (found as `trackr cluster env` finds it)."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from app.cli_common import ClusterDir, fail

backup_app = typer.Typer(
    help="Continuous backups and point-in-time restores (barman; docs/backups.md).",
    no_args_is_help=True,
)


def _local(directory: Path):  # type: ignore[no-untyped-def]
    from app.backup.local import local_barman
    from app.localcluster import Cluster

    cluster = Cluster(directory)
    if not cluster.exists:
        raise fail(
            f"no local cluster at {directory}: run `make run` or `trackr cluster up` first "
            "(or pass --dir)"
        )
    try:
        return cluster, local_barman(cluster)
    except _errors() as exc:
        raise fail(str(exc)) from exc


def _errors() -> tuple[type[Exception], ...]:
    from app.backup.barman import BackupError
    from app.localcluster import ClusterError
    from app.localcluster.node import NodeCommandError

    return BackupError, ClusterError, NodeCommandError


def _size(size_bytes: int) -> str:
    return f"{size_bytes / 2**20:.1f} MiB"


def _record(cluster, kind: str, ok: bool, backup_id: str | None, detail: str | None) -> None:  # type: ignore[no-untyped-def]
    from app.backup.events import record

    problem = record(cluster.env()["DATABASE_URL"], kind, ok, backup_id, detail)
    if problem:
        typer.secho(f"note: {problem}", fg=typer.colors.YELLOW, err=True)


@backup_app.command("create")
def backup_create(directory: ClusterDir = Path(".data/cluster")) -> None:
    """Take a base backup of the primary (WAL is archived continuously besides)."""
    started = time.monotonic()
    cluster, barman = _local(directory)
    try:
        backup = barman.backup()
    except _errors() as exc:
        _record(cluster, "backup", False, None, str(exc))
        raise fail(str(exc)) from exc
    _record(cluster, "backup", True, backup.backup_id, None)
    typer.echo(
        f"backup {backup.backup_id}: {backup.status}, {_size(backup.size_bytes)} in "
        f"{time.monotonic() - started:.1f} s (repository {barman.config.parent})"
    )


@backup_app.command("list")
def backup_list(directory: ClusterDir = Path(".data/cluster")) -> None:
    """Every backup, newest first: id, status, when it ended, size."""
    try:
        _, barman = _local(directory)
        backups = barman.backups()
    except _errors() as exc:
        raise fail(str(exc)) from exc
    if not backups:
        typer.echo("no backups yet: `trackr backup create` takes one")
    for backup in backups:
        ended = backup.end_time.isoformat(timespec="seconds") if backup.end_time else "-"
        typer.echo(
            f"{backup.backup_id}  {backup.status:<8} {ended}  {_size(backup.size_bytes):>10}"
        )


def _parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            "use an ISO 8601 time with its zone, e.g. 2026-12-02T18:30:00+00:00"
        ) from None
    if moment.tzinfo is None:
        raise typer.BadParameter(
            "give the time's zone (e.g. +00:00 or Z): a bare time is ambiguous"
        )
    return moment


@backup_app.command("restore")
def backup_restore(
    target_dir: Annotated[
        Path, typer.Option("--target-dir", help="A new (or empty) directory for the node")
    ],
    to_time: Annotated[
        str | None, typer.Option("--to-time", help="Replay up to this time (ISO 8601, zoned)")
    ] = None,
    to_lsn: Annotated[
        str | None, typer.Option("--to-lsn", help="Replay up to this WAL position, e.g. 0/5000060")
    ] = None,
    latest: Annotated[bool, typer.Option("--latest", help="Replay the whole archive")] = False,
    port: Annotated[
        int | None, typer.Option(help="Port for the node (default: a free one)")
    ] = None,
    directory: ClusterDir = Path(".data/cluster"),
) -> None:
    """Restore into a new data directory and start it there; the cluster is not touched."""
    from app.backup.restore import Target, restore

    if sum((to_time is not None, to_lsn is not None, latest)) != 1:
        raise fail("say where to stop: exactly one of --to-time, --to-lsn or --latest")
    target = Target(time=_parse_time(to_time) if to_time else None, lsn=to_lsn)
    started = time.monotonic()
    try:
        cluster, barman = _local(directory)
        node = restore(barman, cluster, target, target_dir, port)
    except _errors() as exc:
        raise fail(str(exc)) from exc
    typer.echo(
        f"restored to {target.describe()} in {time.monotonic() - started:.1f} s: "
        f"{node.datadir}, serving on 127.0.0.1:{node.port} (socket {node.socket_dir}); "
        f"stop it with: pg_ctl stop -D {node.datadir}"
    )


@backup_app.command("verify")
def backup_verify(directory: ClusterDir = Path(".data/cluster")) -> None:
    """Restore the newest backup into a scratch node, replay it to the position a replica is
    paused at, and compare what both hold; exit 1 on any difference."""
    from app.backup.verify import verify

    cluster, barman = _local(directory)
    try:
        result = verify(barman, cluster)
    except _errors() as exc:
        _record(cluster, "verify", False, None, str(exc))
        raise fail(f"verify failed: {exc}") from exc
    for name, value in result.expected.items():
        typer.echo(f"  {name}: {value}")
    _record(cluster, "verify", not result.differences, result.backup_id,
            "; ".join(result.differences) or None)  # fmt: skip
    if result.differences:
        for line in result.differences:
            typer.secho(f"  DIFFERS {line}", fg=typer.colors.RED, err=True)
        raise fail(
            f"backup {result.backup_id} restored to {result.position} does not hold what the "
            "cluster held there"
        )
    typer.echo(
        f"backup {result.backup_id} verified: restored to {result.position} in "
        f"{result.seconds:.1f} s, the same figures as the cluster"
    )
