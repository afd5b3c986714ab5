"""Logical backups for managed PostgreSQL (`trackr backup … --method dump`), kept in a real
S3-compatible server on loopback (moto): taken under write load, listed, verified by
restoring, restored into an empty database, refused over a database in use, pruned by age,
one job at a time, retried while the database is down."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from app.backup.jobs import EXIT_LOCKED, LOCK_KEY
from app.localcluster import Cluster
from tests.backup.conftest import TRACKR, trackr
from tests.s3_server import S3Server, s3_server

VERIFY_DB = "trackr_verify_test"
RESTORE_DB = "trackr_restored_test"


@pytest.fixture
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


def _env(cluster: Cluster, s3: S3Server, prefix: str, **more: str) -> dict[str, str]:
    cluster.create_database(VERIFY_DB)
    return {
        **s3.env(prefix),
        "BACKUP_METHOD": "dump",
        "BACKUP_DATABASE_URL": cluster.env()["DATABASE_URL"],
        "BACKUP_VERIFY_URL": cluster.env(VERIFY_DB)["DATABASE_URL"],
        **more,
    }


def _insert(cluster: Cluster, count: int) -> None:
    cluster.primary().sql(
        "INSERT INTO products (category, name, price, attributes) SELECT 'games', "
        f"'dump ' || g, g, '{{\"platform\": \"SNES\"}}' FROM generate_series(1, {count}) g",
        dbname="trackr",
    )


def _dump_ids(s3: S3Server, prefix: str) -> list[str]:
    listed = s3.client().list_objects_v2(Bucket=s3.bucket, Prefix=f"{prefix}/dumps/")
    return sorted(item["Key"] for item in listed.get("Contents", []))


class _Writer(threading.Thread):
    """Inserts products one by one until stopped: the dump runs under write load."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.written = 0

    def run(self) -> None:
        import asyncio

        async def write() -> None:
            connection = await asyncpg.connect(self.url)
            try:
                while not self.stop.is_set() and self.written < 100_000:
                    await connection.execute(
                        "INSERT INTO products (category, name, price, attributes) "
                        "VALUES ('coins', 'during the dump', 1, '{}')"
                    )
                    self.written += 1
            finally:
                await connection.close()

        asyncio.run(write())


def test_a_dump_in_s3_is_verified_and_restored_under_write_load(
    clean_db: Cluster, s3: S3Server
) -> None:
    _insert(clean_db, 2000)
    env = _env(clean_db, s3, "site-a")
    writer = _Writer(clean_db.env()["DATABASE_URL"])
    writer.start()
    try:
        time.sleep(0.3)
        created = trackr("backup", "create", env=env)
        time.sleep(0.3)
    finally:
        writer.stop.set()
        writer.join(30)
    assert created.returncode == 0, created.stdout + created.stderr
    assert writer.written > 0
    assert re.search(r"^dump \d{8}T\d{9}Z: [\d.]+ MiB in ", created.stdout, re.M), created.stdout
    assert len(_dump_ids(s3, "site-a")) == 2  # the dump and its manifest

    listed = trackr("backup", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert " DONE " in listed.stdout

    verified = trackr("backup", "verify", env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "verified" in verified.stdout
    # The manifest's figures were read in the dump's snapshot, between the writer's rows.
    manifest = json.loads(
        s3.client()
        .get_object(Bucket=s3.bucket, Key=next(k for k in _dump_ids(s3, "site-a") if "json" in k))[
            "Body"
        ]
        .read()
    )
    dumped = manifest["figures"]["products per category"]
    assert dumped.startswith("coins=")
    assert "games=2000" in dumped
    coins_then = int(dumped.split()[0].removeprefix("coins="))
    assert coins_then <= writer.written  # the snapshot saw some of the writes, not later ones

    clean_db.create_database(RESTORE_DB)
    target = clean_db.env(RESTORE_DB)["DATABASE_URL"]
    restored = trackr("backup", "restore", "--target-url", target, env=env)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    holds = clean_db.primary().sql(
        "SELECT string_agg(category || '=' || n, ' ' ORDER BY category) FROM "
        "(SELECT category, count(*) AS n FROM products GROUP BY category) c",
        dbname=RESTORE_DB,
    )
    assert holds == dumped

    again = trackr("backup", "restore", "--target-url", target, env=env)
    assert again.returncode == 1
    assert "not empty" in again.stderr  # never over a database in use
    events = clean_db.primary().sql(
        "SELECT string_agg(kind || ':' || ok, ',' ORDER BY id) FROM backup_events "
        "WHERE backup_id LIKE 'dump-%'",
        dbname="trackr",
    )
    assert events.endswith("backup:true,verify:true")


def test_a_tampered_dump_fails_verify(clean_db: Cluster, s3: S3Server) -> None:
    _insert(clean_db, 50)
    env = _env(clean_db, s3, "tampered")
    assert trackr("backup", "create", env=env).returncode == 0
    key = next(k for k in _dump_ids(s3, "tampered") if k.endswith(".dump"))
    body = s3.client().get_object(Bucket=s3.bucket, Key=key)["Body"].read()
    s3.client().put_object(Bucket=s3.bucket, Key=key, Body=body[: len(body) // 2])
    verified = trackr("backup", "verify", env=env)
    assert verified.returncode == 1, verified.stdout
    assert "verify failed" in verified.stderr
    assert "checksum" in verified.stderr


def _manifest(dump_id: str, started: datetime) -> dict[str, Any]:
    return {
        "dump_id": dump_id, "started": started.isoformat(), "seconds": 0.1, "size_bytes": 1,
        "sha256": "0" * 64, "server_version": "16", "figures": {},
    }  # fmt: skip


def test_dumps_past_the_retention_are_deleted_and_the_newest_kept(
    clean_db: Cluster, s3: S3Server
) -> None:
    client = s3.client()
    old = datetime.now(UTC) - timedelta(days=9)
    for dump_id, started in (("old", old), ("recent", datetime.now(UTC) - timedelta(days=2))):
        for suffix, body in ((".dump", b"x"), (".json", json.dumps(_manifest(dump_id, started)))):
            client.put_object(Bucket=s3.bucket, Key=f"kept/dumps/{dump_id}{suffix}", Body=body)
    env = _env(clean_db, s3, "kept", BACKUP_RETENTION_DAYS="7")
    created = trackr("backup", "create", env=env)
    assert created.returncode == 0, created.stderr
    assert "deleted dump old" in created.stdout
    keys = _dump_ids(s3, "kept")
    assert "kept/dumps/old.dump" not in keys
    assert {"kept/dumps/recent.dump", "kept/dumps/recent.json"} <= set(keys)


def test_a_second_job_is_refused_while_one_holds_the_lock(clean_db: Cluster, s3: S3Server) -> None:
    env = _env(clean_db, s3, "locked")
    holder = clean_db.primary()
    import asyncio

    async def hold_and_run() -> Any:
        connection = await asyncpg.connect(clean_db.env()["DATABASE_URL"])
        try:
            assert await connection.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY)
            return await asyncio.to_thread(trackr, "backup", "create", env=env)
        finally:
            await connection.close()

    refused = asyncio.run(hold_and_run())
    assert refused.returncode == EXIT_LOCKED, refused.stdout + refused.stderr
    assert "another backup job is running" in refused.stderr
    assert _dump_ids(s3, "locked") == []
    assert holder.sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == "0"
    assert trackr("backup", "create", env=env).returncode == 0  # the lock was let go


def test_a_job_retries_until_the_database_is_back(pg_dir: Path, s3: S3Server) -> None:
    # A cluster of its own: the session's primary is not stopped under other tests.
    cluster = Cluster(pg_dir / "cluster")
    cluster.up(replicas=0)
    try:
        env = {**s3.env("retried"), "BACKUP_METHOD": "dump",
               "BACKUP_DATABASE_URL": cluster.env()["DATABASE_URL"]}  # fmt: skip
        primary = cluster.primary()
        primary.stop()
        restart = threading.Timer(2.0, primary.start)
        restart.start()
        created = trackr("backup", "create", "--retries", "4", "--retry-wait", "1", env=env)
        restart.join()
    finally:
        cluster.destroy()
    assert created.returncode == 0, created.stdout + created.stderr
    assert "attempt 1 failed" in created.stderr
    assert len(_dump_ids(s3, "retried")) == 2


def test_a_job_that_keeps_failing_exits_non_zero(clean_db: Cluster, s3: S3Server) -> None:
    env = _env(clean_db, s3, "failed", BACKUP_DATABASE_URL="postgresql://x:y@127.0.0.1:9/none")
    failed = trackr("backup", "create", "--retries", "1", "--retry-wait", "0.2", env=env)
    assert failed.returncode == 1
    assert "attempt 1 failed" in failed.stderr
    assert "could not take the backup lock" in failed.stderr


def _child_named(pid: int, name: str) -> int | None:
    """A direct child of `pid` running `name`, from /proc."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)
            command, ppid = fields[0].split("(", 1)[1], int(fields[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if ppid == pid and command == name:
            return int(stat.parent.name)
    return None


def test_a_hung_pg_dump_fails_the_job_at_its_deadline_and_leaves_nothing(
    clean_db: Cluster, s3: S3Server
) -> None:
    _insert(clean_db, 100_000)  # long enough a dump to catch pg_dump running
    env = {**os.environ, **_env(clean_db, s3, "hung"), "BACKUP_TOOL_TIMEOUT_SECONDS": "3"}
    job = subprocess.Popen(
        [TRACKR, "backup", "create", "--retries", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    stopped = None
    deadline = time.monotonic() + 60
    while stopped is None and job.poll() is None and time.monotonic() < deadline:
        stopped = _child_named(job.pid, "pg_dump")
        time.sleep(0.005)
    assert stopped is not None, "pg_dump was never seen running"
    os.kill(stopped, signal.SIGSTOP)
    started = time.monotonic()
    _, err = job.communicate(timeout=60)
    assert job.returncode == 1, err
    assert "pg_dump did not finish within 3 s" in err
    assert time.monotonic() - started < 15  # the deadline, not the dump, ended it
    assert not Path(f"/proc/{stopped}").exists()  # killed and reaped
    assert _dump_ids(s3, "hung") == []  # no part of it is kept as a dump
    assert trackr("backup", "create", env=env).returncode == 0  # the lock was let go
    assert len(_dump_ids(s3, "hung")) == 2
