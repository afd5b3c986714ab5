"""`trackr backup …`: base backups of the local cluster (barman, point in time) or logical
dumps of any PostgreSQL (`--method dump`, for managed databases), their list, restores, and
verification by restoring. `create` and `verify` are scheduler-ready: one at a time (a lock
in the database), `--retries` with backoff, a non-zero exit on failure."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, TypeVar

import typer

from app.backup import resolve
from app.cli_common import ClusterDir, fail

if TYPE_CHECKING:
    from app.backup.barman import Backup
    from app.backup.dump import DumpVerification
    from app.backup.restore import Target

T = TypeVar("T")
backup_app = typer.Typer(
    help="Backups, point-in-time restores and restore drills (docs/backups.md).",
    no_args_is_help=True,
)
Method = Annotated[
    Literal["barman", "dump"] | None,
    typer.Option(
        "--method",
        help="barman: base backups + streamed WAL of the local cluster (point in time); "
        "dump: pg_dump of DATABASE_URL to BACKUP_REPOSITORY. Default: BACKUP_METHOD, or barman",
    ),
]
Retries = Annotated[
    int, typer.Option("--retries", min=0, help="Attempts after a failure (with backoff)")
]
RetryWait = Annotated[
    float, typer.Option("--retry-wait", min=0, help="Seconds before the first retry; doubles")
]
Source = Annotated[
    Literal["local", "s3"],
    typer.Option(
        "--source",
        help="barman: local (the repository beside the cluster) or s3 (its copy at "
        "BACKUP_REPOSITORY, which outlives the host)",
    ),
]
DumpId = Annotated[str | None, typer.Option("--dump", help="A dump's id (default: the newest)")]


def _size(size_bytes: int) -> str:
    return f"{size_bytes / 2**20:.1f} MiB"


def _record(
    database_url: str, kind: str, ok: bool, backup_id: str | None, detail: str | None
) -> None:
    from app.backup.events import record

    problem = record(database_url, kind, ok, backup_id, detail)
    if problem:
        typer.secho(f"note: {problem}", fg=typer.colors.YELLOW, err=True)


def _recorded_job(
    database_url: str, kind: str, job: Callable[[], T], retries: int, retry_wait: float
) -> T:
    """The job as scheduled; a failure is recorded (for /health on every node) and ends the
    command non-zero."""
    try:
        return _scheduled(database_url, job, retries, retry_wait)
    except resolve.known_errors() as exc:
        _record(database_url, kind, False, None, str(exc))
        raise fail(f"verify failed: {exc}" if kind == "verify" else str(exc)) from exc


def _scheduled(database_url: str, job: Callable[[], T], retries: int, retry_wait: float) -> T:
    """The job under the backup lock, with retries; exit 75 when another job holds the lock."""
    from app.backup.jobs import EXIT_LOCKED, JobLocked, run_job

    def retrying(attempt: int, error: BaseException, wait: float) -> None:
        typer.secho(
            f"attempt {attempt} failed ({error}); retrying in {wait:.1f} s",
            fg=typer.colors.YELLOW,
            err=True,
        )

    try:
        return run_job(database_url, job, retries=retries, first_wait=retry_wait, on_retry=retrying)
    except JobLocked as exc:
        typer.secho(f"skipped: {exc}", fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(EXIT_LOCKED) from exc


@backup_app.command("create")
def backup_create(
    method: Method = None,
    retries: Retries = 0,
    retry_wait: RetryWait = 10.0,
    directory: ClusterDir = Path(".data/cluster"),
) -> None:
    """Take a backup: a base backup of the local cluster (its WAL is archived continuously
    besides) or a dump; dumps past BACKUP_RETENTION_DAYS are deleted after it."""
    started = time.monotonic()
    if resolve.chosen_method(method) == "dump":
        _create_dump(resolve.dump_source_url(directory), directory, retries, retry_wait)
        return
    cluster, barman = resolve.open_barman(directory)
    copy = resolve.s3_copy() if resolve.load_settings().repository_is_s3 else None

    def job() -> Backup:
        # With a copy, barman's hook has uploaded the backup when this returns.
        taken: Backup = barman.backup()
        if copy is not None:
            copy.prune(resolve.load_settings().retention_days)
        return taken

    database_url = resolve.job_database_url(cluster)
    backup = _recorded_job(database_url, "backup", job, retries, retry_wait)
    _record(database_url, "backup", True, backup.backup_id, None)
    copied = f", copied to {copy.url}" if copy is not None else ""
    typer.echo(
        f"backup {backup.backup_id}: {backup.status}, {_size(backup.size_bytes)} in "
        f"{time.monotonic() - started:.1f} s (repository {barman.config.parent}{copied})"
    )


def _create_dump(database_url: str, directory: Path, retries: int, retry_wait: float) -> None:
    from app.backup.barman import BackupError
    from app.backup.dump import prune, take_dump

    store = resolve.open_dump_store(directory)
    pg_dump = resolve.pg_tool("pg_dump")
    dump = _recorded_job(
        database_url, "backup", lambda: take_dump(database_url, store, pg_dump), retries, retry_wait
    )
    _record(database_url, "backup", True, f"dump-{dump.dump_id}", None)
    typer.echo(
        f"dump {dump.dump_id}: {_size(dump.size_bytes)} in {dump.seconds:.1f} s "
        f"({store.describe()})"
    )
    try:
        removed = prune(store, resolve.load_settings().retention_days)
    except BackupError as exc:
        raise fail(f"the dump is kept, but old ones could not be deleted: {exc}") from exc
    for old in removed:
        typer.echo(f"deleted dump {old.dump_id} (older than the retention)")


@backup_app.command("stream")
def backup_stream(
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit")] = False,
    directory: ClusterDir = Path(".data/cluster"),
) -> None:
    """Keep the WAL archive going (a service): every BACKUP_STREAM_INTERVAL_SECONDS, barman's
    maintenance pass restarts the WAL stream if it stopped (a failover, a restart), archives
    what it received (and copies it to S3 with BACKUP_REPOSITORY=s3://…) and applies the
    retention. A failed pass is reported and the next one tries again."""
    from app.backup.barman import BackupError

    _, barman = resolve.open_barman(directory)
    interval = resolve.load_settings().stream_interval_seconds
    while True:
        started = time.monotonic()
        try:
            barman.start_streaming()
            typer.echo(f"archive: pass done in {time.monotonic() - started:.1f} s")
        except BackupError as exc:
            typer.secho(f"archive: pass failed: {exc}", fg=typer.colors.YELLOW, err=True)
            if once:
                raise fail(str(exc)) from exc
        if once:
            return
        time.sleep(interval)


@backup_app.command("list")
def backup_list(
    method: Method = None, source: Source = "local", directory: ClusterDir = Path(".data/cluster")
) -> None:
    """Every backup, newest first: id, status, when it ended, size."""
    rows: list[tuple[str, str, str, int]] = []
    try:
        if resolve.chosen_method(method) == "dump":
            from app.backup.dump import list_dumps

            rows = [(d.dump_id, "DONE", d.started, d.size_bytes) for d in list_dumps(
                resolve.open_dump_store(directory))]  # fmt: skip
        else:
            backups = (
                [b.as_backup() for b in resolve.s3_copy().backups()]
                if source == "s3"
                else resolve.open_barman(directory)[1].backups()
            )
            rows = [
                (b.backup_id, b.status,
                 b.end_time.isoformat(timespec="seconds") if b.end_time else "-", b.size_bytes)
                for b in backups
            ]  # fmt: skip
    except resolve.known_errors() as exc:
        raise fail(str(exc)) from exc
    if not rows:
        typer.echo("no backups yet: `trackr backup create` takes one")
    for backup_id, status, ended, size in rows:
        typer.echo(f"{backup_id}  {status:<8} {ended}  {_size(size):>10}")


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
        Path | None,
        typer.Option("--target-dir", help="barman: a new (or empty) directory for the node"),
    ] = None,
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
    target_url: Annotated[
        str | None,
        typer.Option("--target-url", help="dump: an empty database to restore into"),
    ] = None,
    dump_id: DumpId = None,
    method: Method = None,
    source: Source = "local",
    in_place: Annotated[
        bool,
        typer.Option(
            "--in-place",
            help="barman: replace the local cluster's own data (its primary's directory is "
            "kept aside, its replicas cloned again); asks first",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="With --in-place: do not ask")] = False,
    directory: ClusterDir = Path(".data/cluster"),
) -> None:
    """Restore into a new data directory and start it there (barman, from the local
    repository or its S3 copy), or into an empty database (dump); what runs is never
    touched."""
    if resolve.chosen_method(method) == "dump":
        _restore_dump(target_url, dump_id, directory)
        return
    from app.backup.restore import Target, restore, restore_from_copy

    if sum((to_time is not None, to_lsn is not None, latest)) != 1:
        raise fail("say where to stop: exactly one of --to-time, --to-lsn or --latest")
    target = Target(time=_parse_time(to_time) if to_time else None, lsn=to_lsn)
    if in_place:
        if target_dir is not None or port is not None or source != "local":
            raise fail("--in-place restores into the cluster itself: no --target-dir, --port "
                       "or --source s3")  # fmt: skip
        _restore_in_place(directory, target, yes)
        return
    if target_dir is None:
        raise fail("say where: --target-dir, a new (or empty) directory for the node")
    started = time.monotonic()
    try:
        if source == "s3":
            host = resolve.find_cluster(directory) or resolve.restore_host(target_dir)
            node = restore_from_copy(
                resolve.s3_copy(),
                resolve.surviving_barman(directory),
                host,
                target,
                target_dir,
                port,
            )
        else:
            cluster, barman = resolve.open_barman(directory)
            host = cluster or resolve.restore_host(target_dir)
            node = restore(barman, host, target, target_dir, port)
    except resolve.known_errors() as exc:
        raise fail(str(exc)) from exc
    typer.echo(
        f"restored to {target.describe()} in {time.monotonic() - started:.1f} s: "
        f"{node.datadir}, serving on 127.0.0.1:{node.port} (socket {node.socket_dir}); "
        f"stop it with: pg_ctl stop -D {node.datadir}"
    )


def _restore_in_place(directory: Path, target: Target, yes: bool) -> None:
    from app.backup.restore import restore_in_place
    from app.localcluster import Cluster

    cluster, barman = resolve.open_barman(directory)
    if not isinstance(cluster, Cluster):
        raise fail(
            "--in-place works on a plain cluster trackr runs; restore an HA cluster, or a "
            "server of BACKUP_BARMAN_HOME, beside it (--target-dir) and move the application over"
        )
    if not yes:
        typer.confirm(
            f"Replace the data of the cluster at {directory} with the backup replayed to "
            f"{target.describe()}? Its clients are cut off meanwhile, and writes made since are "
            "set aside (the primary's directory is kept)",
            abort=True,
        )
    started = time.monotonic()
    try:
        done = restore_in_place(barman, cluster, target)
    except resolve.known_errors() as exc:
        raise fail(str(exc)) from exc
    typer.echo(
        f"restored in place to {target.describe()} in {time.monotonic() - started:.1f} s: the "
        f"primary serves on 127.0.0.1:{done.primary.port} again, its replicas cloned again; "
        f"the data it had before is kept in {done.kept}. Take a base backup on the new "
        "timeline: trackr backup create"
    )


def _restore_dump(target_url: str | None, dump_id: str | None, directory: Path) -> None:
    from app.backup.barman import BackupError
    from app.backup.dump import restore_dump
    from app.db.urls import normalize_dsn

    if target_url is None:
        raise fail("say where: --target-url, an empty database to restore the dump into")
    started = time.monotonic()
    try:
        dump = restore_dump(
            resolve.open_dump_store(directory),
            dump_id,
            normalize_dsn(target_url),
            resolve.pg_tool("pg_restore"),
        )
    except (BackupError, ValueError) as exc:
        raise fail(str(exc)) from exc
    typer.echo(f"restored dump {dump.dump_id} in {time.monotonic() - started:.1f} s")


@backup_app.command("verify")
def backup_verify(
    method: Method = None,
    retries: Retries = 0,
    retry_wait: RetryWait = 10.0,
    directory: ClusterDir = Path(".data/cluster"),
) -> None:
    """Restore the newest backup into a scratch node (or, for dumps, a scratch database) and
    compare what it holds with what the database held there; exit 1 on any difference."""
    if resolve.chosen_method(method) == "dump":
        _verify_dump(resolve.dump_source_url(directory), directory, retries, retry_wait)
        return
    from app.backup.verify import verify

    cluster, barman = resolve.open_barman(directory)
    if cluster is None:
        raise fail(
            "verify compares a restore with a replica trackr runs, paused at the same "
            "position; for a server of BACKUP_BARMAN_HOME, verify its dumps (--method dump)"
        )
    database_url = cluster.env()["DATABASE_URL"]
    result = _recorded_job(
        database_url, "verify", lambda: verify(barman, cluster), retries, retry_wait
    )
    _report(database_url, result.backup_id, result.expected, result.differences)
    typer.echo(
        f"backup {result.backup_id} verified: restored to {result.position} in "
        f"{result.seconds:.1f} s, the same figures as the cluster"
    )


def _report(
    database_url: str, backup_id: str, expected: dict[str, str], differences: list[str]
) -> None:
    for name, value in expected.items():
        typer.echo(f"  {name}: {value}")
    _record(database_url, "verify", not differences, backup_id, "; ".join(differences) or None)
    if differences:
        for line in differences:
            typer.secho(f"  DIFFERS {line}", fg=typer.colors.RED, err=True)
        raise fail(f"backup {backup_id} does not hold what the database held when it was taken")


def _verify_dump(database_url: str, directory: Path, retries: int, retry_wait: float) -> None:
    from app.backup.dump import verify_dump

    store = resolve.open_dump_store(directory)
    scratch = resolve.scratch_url(directory)
    pg_restore = resolve.pg_tool("pg_restore")
    result: DumpVerification = _recorded_job(
        database_url, "verify", lambda: verify_dump(store, scratch, pg_restore), retries, retry_wait
    )
    dump_id = f"dump-{result.dump.dump_id}"
    _report(database_url, dump_id, result.dump.figures, result.differences)
    typer.echo(f"dump {result.dump.dump_id} verified: restored in {result.seconds:.1f} s")
