"""barman, run as a tool: its configuration, its commands, and what they print.

barman (GPL-3) lives in its own virtualenv (`make backup-deps`: .tools/barman; /opt/barman in
the image) and is only ever run as a program, never imported. Why barman: docs/backups.md.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
BUNDLED = PROJECT_ROOT / ".tools" / "barman" / "bin" / "barman"
DEFAULT_RETENTION_DAYS = 7


class BackupError(RuntimeError):
    pass


def find_barman() -> Path | None:
    """TRACKR_BARMAN, else the project's own (`make backup-deps`), else one on PATH."""
    if configured := os.environ.get("TRACKR_BARMAN"):
        return Path(configured)
    if BUNDLED.exists():
        return BUNDLED
    found = shutil.which("barman")
    return Path(found) if found else None


@dataclass(frozen=True)
class Server:
    """One PostgreSQL server barman backs up: `conninfo` for a superuser (or a role with the
    backup privileges), `streaming_conninfo` for a replication role."""

    name: str
    conninfo: str
    streaming_conninfo: str
    bindir: Path
    retention_days: int = DEFAULT_RETENTION_DAYS
    slot: str = "barman"
    # A backup starts at a checkpoint: an immediate one starts it at once; a spread one
    # (PostgreSQL's pace, up to checkpoint_timeout x checkpoint_completion_target: 4.5 min by
    # default, measured: docs/backups.md) eases the I/O on a busy primary.
    immediate_checkpoint: bool = True


@dataclass(frozen=True)
class Backup:
    backup_id: str
    status: str
    end_time: datetime | None
    size_bytes: int

    @classmethod
    def from_listing(cls, entry: dict[str, object]) -> Backup:
        end = entry.get("end_time_timestamp")
        return cls(
            backup_id=str(entry["backup_id"]),
            status=str(entry["status"]),
            end_time=datetime.fromtimestamp(int(str(end)), UTC) if end else None,
            size_bytes=int(str(entry.get("size_bytes") or 0)),
        )


def render_config(home: Path, server: Server, hooks: str = "") -> str:
    """A barman configuration for one server: base backups by pg_basebackup, WAL streamed by
    pg_receivewal through a replication slot (seconds of data at risk, not a segment).
    `hooks`: hook script settings (the S3 copy's, app/backup/cloud.py)."""
    return f"""\
[barman]
barman_home = {home}
barman_user = {getpass.getuser()}
log_file = {home / "barman.log"}
log_level = INFO

[{server.name}]
description = trackr
conninfo = {server.conninfo}
streaming_conninfo = {server.streaming_conninfo}
backup_method = postgres
immediate_checkpoint = {"true" if server.immediate_checkpoint else "false"}
streaming_archiver = on
slot_name = {server.slot}
create_slot = auto
path_prefix = {server.bindir}
retention_policy = RECOVERY WINDOW OF {server.retention_days} DAYS
wal_retention_policy = main
{hooks}"""


class Barman:
    """The `barman` commands trackr uses, for one server of one configuration file."""

    def __init__(
        self, executable: Path, config: Path, server: str, passfile: Path | None = None
    ) -> None:
        self.executable = executable
        self.config = config
        self.server = server
        self.env = {**os.environ, **({"PGPASSFILE": str(passfile)} if passfile else {})}

    def run(self, *args: str, timeout: float = 3600, check: bool = True) -> str:
        command = [str(self.executable), "-c", str(self.config), *args]
        try:
            # stdout is what is parsed (`-f json`); barman's progress and errors go to a log
            # beside the configuration, which error messages point at.
            with open(self.config.parent / "commands.log", "ab") as log:
                result = subprocess.run(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    timeout=timeout,
                    check=False,
                    env=self.env,
                )
        except subprocess.TimeoutExpired:
            raise BackupError(f"barman {args[0]} did not finish in {timeout:.0f} s") from None
        output = result.stdout.decode(errors="replace")
        if check and result.returncode != 0:
            raise BackupError(
                f"barman {' '.join(args)} failed (exit {result.returncode}): "
                f"{output.strip()[-2000:]} (see {self.config.parent / 'commands.log'})"
            )
        return output

    def start_streaming(self) -> None:
        """Start the WAL streamer (pg_receivewal, in the background) if it is not running,
        and archive the WAL it has received: `barman cron` does both."""
        self.run("cron", timeout=120)

    def stop_streaming(self) -> None:
        self.run("receive-wal", "--stop", self.server, timeout=60)

    def restart_streaming(self) -> None:
        """Stream again from the server's current WAL file: after an in-place restore its
        WAL forked from what barman had streamed (a new timeline)."""
        self.run("receive-wal", "--reset", self.server, timeout=60)
        self.start_streaming()

    def archive_current_wal(self, timeout: float = 60) -> None:
        """Close the primary's current WAL segment and wait until it is in the archive."""
        self.run(
            "switch-wal",
            "--force",
            "--archive",
            "--archive-timeout",
            str(int(timeout)),
            self.server,
            timeout=timeout + 30,
        )

    def backup(self, wait_seconds: float = 120) -> Backup:
        """A base backup, once the WAL it needs to be consistent is archived."""
        self.start_streaming()
        if not self._has_archived_wal():
            self.archive_current_wal()
        self.run("backup", "--wait", "--wait-timeout", str(int(wait_seconds)), self.server)
        # barman applies the retention policy (and deletes what falls out of it) in cron.
        self.run("cron", timeout=120)
        backups = self.backups()
        if not backups:
            raise BackupError("barman reported no backup after a successful `backup`")
        return backups[0]

    def backups(self) -> list[Backup]:
        """Every backup, newest first."""
        listing = json.loads(self.run("-f", "json", "list-backups", self.server, timeout=60))
        return [Backup.from_listing(entry) for entry in listing.get(self.server, [])]

    def checks(self) -> dict[str, dict[str, str]]:
        """`barman check`: each check's status (OK, FAILED) and hint, failed ones included."""
        output = self.run("-f", "json", "check", self.server, timeout=60, check=False)
        checks: dict[str, dict[str, str]] = json.loads(output).get(self.server, {})
        return checks

    def _has_archived_wal(self) -> bool:
        # The check is listed only while it fails: before the first segment is archived.
        return self.checks().get("wal_archive", {}).get("status") != "FAILED"

    def recover(
        self,
        destination: Path,
        *,
        backup_id: str = "latest",
        target_time: datetime | None = None,
        target_lsn: str | None = None,
        exclusive: bool = False,
    ) -> None:
        """Restore a backup into `destination` (which must not hold a data directory), set to
        replay the archive up to the target (the archive's end when none) and then promote.
        `exclusive`: stop before the target's own record, not after it."""
        # The streamed segment still being written (.partial) goes along: with the primary
        # lost, it holds the last writes the archive has.
        # The newest timeline: after a failover the archive goes on on the new leader's,
        # which barman would otherwise leave out (it defaults to the backup's own).
        args = ["recover", "--partial-wal", "--target-tli", "latest"]
        if target_time is not None or target_lsn is not None:
            args += ["--target-action", "promote"]
        if exclusive:
            args.append("--exclusive")
        if target_time is not None:
            args += ["--target-time", target_time.isoformat()]
        if target_lsn is not None:
            args += ["--target-lsn", target_lsn]
        self.run(*args, self.server, backup_id, str(destination))
