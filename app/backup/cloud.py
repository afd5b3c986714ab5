"""A copy of barman's repository in an S3-compatible store (`barman-cloud-*`), and restores
from that copy alone.

barman streams the primary's WAL into its own directory (a posix repository: seconds of data
at risk). With `BACKUP_REPOSITORY=s3://bucket/prefix`, barman also hands every WAL segment
to `barman-cloud-wal-archive` before archiving it, and every finished base backup to
`barman-cloud-backup`, as hook scripts that it retries until the store takes them. So the
copy trails the local archive by the segment being filled, and survives the loss of the
host that keeps the local one.

A restore from the copy downloads a base backup (`barman-cloud-restore`), then every WAL
segment the store holds after it (`barman-cloud-wal-restore`, following timeline switches)
into the new data directory, and PostgreSQL replays from there: the restored server needs
neither the store's credentials nor barman.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from app.backup.barman import Backup, BackupError

PARALLEL_DOWNLOADS = 8  # WAL segments barman-cloud-wal-restore fetches ahead of the one asked
NOT_FOUND = 1  # barman-cloud-wal-restore's exit status for a segment the store does not hold
SEGMENTS_PER_LOG = 0x100  # 16 MB segments (PostgreSQL's default) in a 4 GB log file


@dataclass(frozen=True)
class CloudCopy:
    """The copy at `url` (s3://bucket/prefix) of one barman server's backups and WAL."""

    url: str
    server: str
    bindir: Path  # barman's virtualenv: barman-cloud-* live beside barman
    endpoint_url: str | None = None
    timeout: float = 3600.0

    def _command(self, tool: str, *args: str) -> list[str]:
        endpoint = ["--endpoint-url", self.endpoint_url] if self.endpoint_url else []
        return [str(self.bindir / tool), "--cloud-provider", "aws-s3", *endpoint, *args]

    def hook_settings(self) -> str:
        """barman's configuration lines that keep the copy (retried until they succeed)."""
        archive = self._command("barman-cloud-wal-archive", self.url, self.server)
        backup = self._command("barman-cloud-backup", self.url, self.server)
        return (
            f"pre_archive_retry_script = {shlex.join(archive)}\n"
            f"post_backup_retry_script = {shlex.join(backup)}\n"
        )

    def _run(
        self, tool: str, *args: str, allowed: tuple[int, ...] = (0,)
    ) -> subprocess.CompletedProcess[str]:
        """`tool` run to its end; an exit status outside `allowed` is a BackupError."""
        command = self._command(tool, *args)
        try:
            result = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BackupError(f"{tool} did not finish in {self.timeout:.0f} s") from None
        if result.returncode not in allowed:
            raise BackupError(
                f"{tool} {' '.join(args)} failed (exit {result.returncode}): "
                f"{result.stderr.strip()[-2000:]}"
            )
        return result

    def backups(self) -> list[CloudBackup]:
        """Every backup in the copy, newest first."""
        listing = json.loads(
            self._run("barman-cloud-backup-list", "--format", "json", self.url, self.server).stdout
        )
        found = [CloudBackup.from_listing(entry) for entry in listing.get("backups_list", [])]
        return sorted(found, key=lambda backup: backup.backup_id, reverse=True)

    def prune(self, retention_days: int) -> None:
        """Delete the backups (and the WAL only they need) past the recovery window."""
        policy = f"RECOVERY WINDOW OF {retention_days} DAYS"
        self._run("barman-cloud-backup-delete", "--retention-policy", policy, self.url, self.server)

    def restore(self, backup: CloudBackup, destination: Path) -> int:
        """The backup's files into `destination`, and the WAL after it into
        `destination/barman_wal`; returns how many WAL files were fetched."""
        self._run("barman-cloud-restore", self.url, self.server, backup.backup_id, str(destination))
        return self._fetch_wal(backup.begin_wal, destination / "barman_wal")

    def _fetch_wal(self, first: str, into: Path) -> int:
        into.mkdir(parents=True, exist_ok=True)
        spool = into.parent / "barman_wal_spool"
        timeline, segment = int(first[:8], 16), _segment_number(first)
        fetched = 0
        while True:
            if self._fetch(wal_name(timeline, segment), into, spool):
                segment += 1
                fetched += 1
            elif self._fetch(f"{timeline + 1:08X}.history", into, spool):
                timeline += 1  # a promotion: the same segment continues on the new timeline
                fetched += 1
            else:
                break
        if spool.exists():
            for leftover in spool.iterdir():
                leftover.unlink()
            spool.rmdir()
        return fetched

    def _fetch(self, name: str, into: Path, spool: Path) -> bool:
        result = self._run(
            "barman-cloud-wal-restore", "--parallel", str(PARALLEL_DOWNLOADS), "--spool-dir",
            str(spool), self.url, self.server, name, str(into / name), allowed=(0, NOT_FOUND),
        )  # fmt: skip
        return result.returncode != NOT_FOUND


@dataclass(frozen=True)
class CloudBackup:
    backup_id: str
    status: str
    begin_wal: str
    end_time: datetime | None
    size_bytes: int

    @classmethod
    def from_listing(cls, entry: dict[str, object]) -> CloudBackup:
        end = entry.get("end_time_iso")  # zoned; `end_time` is a ctime() without a zone
        return cls(
            backup_id=str(entry["backup_id"]),
            status=str(entry["status"]),
            begin_wal=str(entry.get("begin_wal") or ""),
            end_time=datetime.fromisoformat(str(end)) if end else None,
            size_bytes=int(str(entry.get("size") or 0)),
        )

    def as_backup(self) -> Backup:
        return Backup(self.backup_id, self.status, self.end_time, self.size_bytes)


def wal_name(timeline: int, segment: int) -> str:
    log, seg = divmod(segment, SEGMENTS_PER_LOG)
    return f"{timeline:08X}{log:08X}{seg:08X}"


def _segment_number(name: str) -> int:
    return int(name[8:16], 16) * SEGMENTS_PER_LOG + int(name[16:24], 16)


def write_recovery_settings(
    data_dir: Path, *, target_time: datetime | None, target_lsn: str | None, exclusive: bool
) -> None:
    """Replay from `barman_wal` to the target (the end of what was fetched when none) and
    promote: PostgreSQL reads these from postgresql.auto.conf with recovery.signal present."""
    wal_dir = data_dir / "barman_wal"
    lines = [
        f"restore_command = {_quoted(f'cp {shlex.quote(str(wal_dir))}/%f %p')}",
        "recovery_target_timeline = 'latest'",
    ]
    if target_time is not None:
        lines.append(f"recovery_target_time = {_quoted(target_time.isoformat())}")
    if target_lsn is not None:
        lines.append(f"recovery_target_lsn = {_quoted(target_lsn)}")
    if target_time is not None or target_lsn is not None:
        lines.append("recovery_target_action = 'promote'")
        lines.append(f"recovery_target_inclusive = {'off' if exclusive else 'on'}")
    with open(data_dir / "postgresql.auto.conf", "a") as conf:
        conf.write("\n# trackr backup restore (from the S3 copy)\n" + "\n".join(lines) + "\n")
    (data_dir / "recovery.signal").touch()


def _quoted(value: str) -> str:
    """A string value as postgresql.conf reads it."""
    return "'" + value.replace("'", "''") + "'"
