"""barman for a PostgreSQL that trackr does not run (a production primary, compose's
`postgres` service): everything comes from the BACKUP_* settings (README, docs/backups.md),
nothing from a local cluster's state."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.backup.barman import BackupError, Barman, Server, find_barman, render_config
from app.backup.local import SERVER, cloud_copy, pg_client_tool
from app.backup.settings import BackupSettings
from app.db.urls import to_conninfo
from app.localcluster.binaries import BinariesNotFoundError, PgBinaries, find_binaries
from app.localcluster.osuser import RunAs, ensure_traversable, resolve_run_as


def explicit_barman(settings: BackupSettings) -> Barman:
    """barman with its repository in BACKUP_BARMAN_HOME, backing up BACKUP_DATABASE_URL's
    server and streaming its WAL over BACKUP_STREAMING_URL."""
    executable = find_barman()
    if executable is None:
        raise BackupError("barman is not installed: run `make backup-deps` (or set TRACKR_BARMAN)")
    home, conninfo, streaming = settings.barman_home, settings.database_url, settings.streaming_url
    if home is None or conninfo is None or streaming is None:
        raise BackupError("set BACKUP_BARMAN_HOME, BACKUP_DATABASE_URL and BACKUP_STREAMING_URL")
    try:
        bindir = Path(pg_client_tool("pg_receivewal")).parent
    except FileNotFoundError as exc:
        raise BackupError(str(exc)) from exc
    home = home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    server = Server(
        name=SERVER,
        conninfo=to_conninfo(conninfo),
        streaming_conninfo=to_conninfo(streaming),
        bindir=bindir,
        retention_days=settings.retention_days,
    )
    copy = cloud_copy(executable)
    config = home / "barman.conf"
    config.touch(mode=0o600)  # the URLs' passwords are in it
    config.chmod(0o600)
    config.write_text(render_config(home, server, copy.hook_settings() if copy else ""))
    return Barman(executable, config, SERVER)


@dataclass(frozen=True)
class RestoreHost:
    """Where a restore from an explicit repository starts its node: this machine's
    PostgreSQL binaries (PG_BINDIR, else the project's), beside the target directory."""

    base: Path
    bins: PgBinaries
    run_as: RunAs

    @classmethod
    def beside(cls, target_dir: Path) -> RestoreHost:
        base = target_dir.resolve().parent
        try:
            bins = find_binaries()
        except BinariesNotFoundError as exc:
            raise BackupError(f"a restore starts PostgreSQL here: {exc}") from exc
        run_as = resolve_run_as()
        for sub in ("run", "log"):  # the node's socket and its log
            (base / sub).mkdir(parents=True, exist_ok=True)
            run_as.chown(base / sub)
        if run_as.is_switching:
            ensure_traversable(base)
            ensure_traversable(bins.bindir)
        return cls(base, bins, run_as)
