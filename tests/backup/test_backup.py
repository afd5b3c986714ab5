"""`trackr backup` on a real local cluster: WAL streamed from `trackr cluster up` on, a base
backup, and a point-in-time restore that holds exactly what existed at the chosen moment."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.backup.local import repository_for
from app.localcluster import Cluster
from app.main import create_app
from tests.backup.conftest import backed_up_cluster, restored_node, trackr
from tests.conftest import make_settings


@pytest.fixture(scope="module")
def backed_up() -> Iterator[Cluster]:
    with backed_up_cluster("backup") as cluster:
        yield cluster


def test_list_shows_the_backup(backed_up: Cluster) -> None:
    listed = trackr("backup", "list", "--dir", str(backed_up.base))
    assert listed.returncode == 0, listed.stderr
    [line] = listed.stdout.splitlines()
    assert " DONE " in line
    assert line.endswith("MiB")


def test_restore_to_a_time_holds_exactly_the_rows_of_that_time(
    backed_up: Cluster, pg_dir: Path
) -> None:
    primary = backed_up.primary()
    primary.sql("CREATE TABLE accident (id int PRIMARY KEY)")
    primary.sql("INSERT INTO accident SELECT generate_series(1, 100)")
    time.sleep(0.5)
    moment = datetime.now(UTC)
    time.sleep(0.5)
    primary.sql("INSERT INTO accident SELECT generate_series(101, 200)")
    primary.sql("DROP TABLE accident")

    target = pg_dir / "restored"
    restored = trackr(
        "backup", "restore", "--dir", str(backed_up.base), "--to-time", moment.isoformat(),
        "--target-dir", str(target),
    )  # fmt: skip
    assert restored.returncode == 0, restored.stdout + restored.stderr
    node = restored_node(backed_up, target)
    try:
        assert node.sql("SELECT count(*), min(id), max(id) FROM accident") == "100|1|100"
        assert node.sql("SELECT pg_is_in_recovery()") == "f"  # promoted: a primary of its own
    finally:
        node.stop()
    assert primary.sql("SELECT to_regclass('accident') IS NULL") == "t"  # the cluster untouched


def test_restore_refuses_a_directory_that_holds_something(backed_up: Cluster, pg_dir: Path) -> None:
    occupied = pg_dir / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    refused = trackr(
        "backup", "restore", "--dir", str(backed_up.base), "--latest",
        "--target-dir", str(occupied),
    )  # fmt: skip
    assert refused.returncode == 1
    assert "is not empty" in refused.stderr
    assert [p.name for p in occupied.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "exactly one of --to-time, --to-lsn or --latest"),
        (["--latest", "--to-lsn", "0/1"], "exactly one of --to-time, --to-lsn or --latest"),
        (["--to-time", "2026-12-02T18:30:00"], "give the time's zone"),
        (["--to-time", "yesterday"], "ISO 8601"),
    ],
)
def test_restore_says_what_is_wrong_with_its_target(
    tmp_path: Path, args: list[str], message: str
) -> None:
    refused = trackr(
        "backup", "restore", "--dir", str(tmp_path / "none"), "--target-dir",
        str(tmp_path / "new"), *args,
    )  # fmt: skip
    assert refused.returncode != 0
    assert message in refused.stdout + refused.stderr


def test_commands_say_when_there_is_no_cluster(tmp_path: Path) -> None:
    listed = trackr("backup", "list", "--dir", str(tmp_path / "none"))
    assert listed.returncode == 1
    assert "no local cluster at" in listed.stderr


def test_no_password_in_the_configuration_or_a_command_line(backed_up: Cluster) -> None:
    _, password = backed_up.replication_login()
    repository = repository_for(backed_up.base)
    assert password not in (repository / "barman.conf").read_text()
    assert oct((repository / "pgpass").stat().st_mode & 0o777) == "0o600"
    command_lines = [_read(cmdline) for cmdline in Path("/proc").glob("[0-9]*/cmdline")]
    streamers = [
        line for line in command_lines if b"pg_receivewal" in line and bytes(repository) in line
    ]
    assert streamers, "no pg_receivewal streams this cluster's WAL"
    assert not any(password.encode() in line for line in streamers)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # the process ended meanwhile
        return b""


def test_verify_restores_the_newest_backup_and_finds_what_the_cluster_holds(
    backed_up: Cluster,
) -> None:
    """Under writes: the replica's pause and the restore's stop are the same WAL position."""
    stop = threading.Event()
    primary = backed_up.primary()

    def write() -> None:
        for n in range(2000):
            if stop.is_set():
                return
            primary.sql(
                "INSERT INTO products (category, name, price, currency, in_stock, attributes) "
                f"VALUES ('games', 'verify {n}', {n}, 'EUR', true, "
                """'{"platform": "PC"}')""",
                dbname="trackr",
            )

    writer = threading.Thread(target=write)
    writer.start()
    try:
        verified = trackr("backup", "verify", "--dir", str(backed_up.base))
    finally:
        stop.set()
        writer.join()
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "verified: restored to" in verified.stdout
    assert "products per category: coins=" in verified.stdout
    assert not list(repository_for(backed_up.base).parent.glob("verify-*"))  # scratch removed


def test_health_and_metrics_show_the_backups(backed_up: Cluster) -> None:
    """Every API node reads the jobs' rows (replicated) and the primary's view of the WAL
    streamer: informational, the status stays ok."""
    recorded = "SELECT count(*) FROM backup_events WHERE kind = 'verify' AND ok"
    if backed_up.primary().sql(recorded, dbname="trackr") == "0":  # this test run alone
        assert trackr("backup", "verify", "--dir", str(backed_up.base)).returncode == 0
    settings = make_settings(backed_up, backup_status_interval_seconds=0.2)
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 30
        while (backups := client.get("/health").json().get("backups")) is None:
            assert time.monotonic() < deadline, "no backup status in /health"
            time.sleep(0.1)
        assert backups["last_backup_age_seconds"] < 600
        assert backups["last_verify_ok"] is True
        assert backups["last_verify_age_seconds"] < 600
        assert backups["archive_streaming"] is True
        assert backups["error"] is None
        metrics = client.get("/metrics").text
        assert 'trackr_backup_last_success_timestamp_seconds{kind="backup"}' in metrics
        assert "trackr_backup_last_verify_ok 1.0" in metrics
        assert "trackr_wal_archive_streaming 1.0" in metrics


def test_verify_fails_on_a_tampered_backup(backed_up: Cluster) -> None:
    """The newest backup's products table overwritten with zeros (its own backup, so the
    other tests' one stays intact): the restore no longer holds the products."""
    created = trackr("backup", "create", "--dir", str(backed_up.base))
    assert created.returncode == 0, created.stdout + created.stderr
    backup_id = created.stdout.split()[1].rstrip(":")
    heap = backed_up.primary().sql("SELECT pg_relation_filepath('products')", dbname="trackr")
    data = repository_for(backed_up.base) / "trackr" / "base" / backup_id / "data"
    tampered = data / heap
    tampered.write_bytes(bytes(tampered.stat().st_size))
    verified = trackr("backup", "verify", "--dir", str(backed_up.base))
    assert verified.returncode == 1, verified.stdout + verified.stderr
    assert backup_id in verified.stderr
    assert "DIFFERS products per category: restored 'none'" in verified.stderr
    last = "SELECT ok, backup_id FROM backup_events WHERE kind = 'verify' ORDER BY id DESC LIMIT 1"
    assert backed_up.primary().sql(last, dbname="trackr") == f"f|{backup_id}"
