"""The S3 copy's own parts, without a store: WAL names across a log boundary, the backup a
point-in-time restore starts from, and recovery settings that survive odd paths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.backup.barman import BackupError
from app.backup.cloud import CloudBackup, wal_name, write_recovery_settings
from app.backup.restore import Target, _backup_before

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_wal_names_count_segments_across_a_log_boundary() -> None:
    assert wal_name(1, 0xFF) == "0000000100000000000000FF"
    assert wal_name(1, 0x100) == "000000010000000100000000"
    assert wal_name(0x1A, 0x2_05) == "0000001A0000000200000005"


def _backup(backup_id: str, hours_ago: float, status: str = "DONE") -> CloudBackup:
    return CloudBackup(backup_id, status, "000000010000000000000002",
                       NOW - timedelta(hours=hours_ago), 1)  # fmt: skip


def test_a_time_target_starts_from_the_newest_backup_that_ended_before_it() -> None:
    backups = [_backup("c", 1), _backup("b", 5, "FAILED"), _backup("a", 10)]
    assert _backup_before(backups, Target(time=NOW - timedelta(hours=2))).backup_id == "a"
    assert _backup_before(backups, Target(time=NOW)).backup_id == "c"
    assert _backup_before(backups, Target()).backup_id == "c"
    with pytest.raises(BackupError, match="no finished backup before time"):
        _backup_before(backups, Target(time=NOW - timedelta(hours=11)))


def test_recovery_settings_quote_what_they_name(tmp_path: Path) -> None:
    data_dir = tmp_path / "it's here"
    data_dir.mkdir()
    write_recovery_settings(data_dir, target_time=NOW, target_lsn=None, exclusive=True)
    conf = (data_dir / "postgresql.auto.conf").read_text()
    assert "restore_command = 'cp ''" in conf  # the shell's quotes, doubled for the file
    assert "recovery_target_time = '2026-12-04T12:00:00+00:00'" in conf
    assert "recovery_target_inclusive = off" in conf
    assert (data_dir / "recovery.signal").exists()
