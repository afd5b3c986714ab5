"""barman for a PostgreSQL trackr does not run, from the BACKUP_* settings alone (as in
production): the repository in BACKUP_BARMAN_HOME, barman's connection and the WAL stream from
BACKUP_DATABASE_URL and BACKUP_STREAMING_URL. On the tests' own cluster, found by nothing but
those URLs: stream, back up, list, restore with this machine's binaries."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.backup.barman import Barman, find_barman
from app.backup.local import SERVER
from app.localcluster import Cluster
from app.localcluster.node import Node
from tests.backup.conftest import trackr


@pytest.fixture
def explicit_env(migrated: Cluster, tmp_path: Path) -> Iterator[dict[str, str]]:
    primary = migrated.primary()
    user, password = migrated.replication_login()
    home = tmp_path / "barman"
    env = {
        "BACKUP_BARMAN_HOME": str(home),
        "BACKUP_DATABASE_URL": (
            f"postgresql://postgres@/trackr?host={primary.socket_dir}&port={primary.port}"
        ),
        "BACKUP_STREAMING_URL": f"postgresql://{user}:{password}@127.0.0.1:{primary.port}/",
    }
    try:
        yield env
    finally:
        executable = find_barman()
        assert executable is not None
        Barman(executable, home / "barman.conf", SERVER).run(
            "receive-wal", "--stop", SERVER, check=False
        )
        drop = "SELECT pg_drop_replication_slot('barman') FROM pg_replication_slots " \
               "WHERE slot_name = 'barman' AND NOT active"  # fmt: skip
        deadline = time.monotonic() + 30
        while primary.sql("SELECT count(*) FROM pg_replication_slots "
                          "WHERE slot_name = 'barman'") != "0":  # fmt: skip
            assert time.monotonic() < deadline, "barman's slot stayed active"
            primary.sql(drop)
            time.sleep(0.2)


def test_backups_of_a_server_named_only_by_its_urls(
    explicit_env: dict[str, str], migrated: Cluster, tmp_path: Path
) -> None:
    streamed = trackr("backup", "stream", "--once", env=explicit_env)
    assert streamed.returncode == 0, streamed.stdout + streamed.stderr
    created = trackr("backup", "create", env=explicit_env)
    assert created.returncode == 0, created.stdout + created.stderr
    assert f"repository {tmp_path / 'barman'}" in created.stdout
    listed = trackr("backup", "list", env=explicit_env)
    assert " DONE " in listed.stdout, listed.stdout + listed.stderr

    migrated.primary().sql(
        "INSERT INTO products (category, name, price, currency, in_stock, attributes) "
        "VALUES ('games', 'explicit marker', 1, 'EUR', true, '{\"platform\": \"PC\"}')",
        "trackr",
    )
    target = tmp_path / "restored" / "data"
    restored = trackr(
        "backup", "restore", "--latest", "--target-dir", str(target), env=explicit_env
    )
    assert restored.returncode == 0, restored.stdout + restored.stderr
    port = int((target / "postmaster.pid").read_text().splitlines()[3])
    # Started beside its directory, on this machine's binaries (no cluster of trackr's).
    node = Node(name=target.name, port=port, base=target.parent, bins=migrated.bins,
                run_as=migrated.run_as, data_path=target)  # fmt: skip
    try:
        found = node.sql("SELECT count(*) FROM products WHERE name = 'explicit marker'", "trackr")
        assert found == "1"
    finally:
        node.stop("fast")

    verified = trackr("backup", "verify", env=explicit_env)
    assert verified.returncode == 1
    assert "--method dump" in verified.stderr
