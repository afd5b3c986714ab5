"""deploy/postgres scripts run for real: the primary's init script accepts a replica built by the
replica entrypoint, with the environment variables the compose file gives them."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.localcluster.binaries import PgBinaries, find_binaries
from app.localcluster.osuser import RunAs, ensure_traversable, resolve_run_as
from app.localcluster.ports import free_port

SCRIPTS = Path(__file__).resolve().parents[2] / "deploy" / "postgres"
PASSWORD = "replication-secret"


@dataclass
class Box:
    """A scratch directory, the binaries, and a way to run things as the PostgreSQL user."""

    root: Path
    bins: PgBinaries
    run_as: RunAs

    def env(self, **extra: str) -> dict[str, str]:
        base = dict(self.run_as.popen_kwargs().get("env", os.environ))  # type: ignore[call-overload]
        path = f"{self.bins.bindir}:{base.get('PATH', '/usr/bin:/bin')}"
        return {**base, "PATH": path, **extra}

    def kwargs(self) -> dict[str, object]:
        return {k: v for k, v in self.run_as.popen_kwargs().items() if k != "env"}

    def run(
        self, args: list[str], env: dict[str, str], check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        options: dict[str, Any] = self.kwargs()
        return subprocess.run(
            args,
            env=env,
            capture_output=True,
            text=True,
            check=check,
            cwd=self.root,
            timeout=120,
            **options,
        )

    def psql(self, port: int, sql: str, check: bool = True) -> str:
        """Output of one statement; with check=False, "" while the server is not answering."""
        result = self.run(
            [
                "psql",
                "-X",
                "-At",
                "-h",
                str(self.root / "run"),
                "-p",
                str(port),
                "-U",
                "trackr",
                "-d",
                "postgres",
                "-c",
                sql,
            ],
            self.env(),
            check=check,
        )
        return result.stdout.strip()


@pytest.fixture
def box(pg_dir: Path) -> Box:
    tmp_path = pg_dir
    run_as = resolve_run_as()
    bins = find_binaries()
    for sub in ("run", "archive"):
        (tmp_path / sub).mkdir()
    if run_as.is_switching:
        ensure_traversable(tmp_path)
        ensure_traversable(bins.bindir)
        ensure_traversable(SCRIPTS)
        run_as.chown(tmp_path)
    return Box(tmp_path, bins, run_as)


@pytest.fixture
def primary(box: Box) -> Iterator[int]:
    """initdb + the image's first-start steps: start, run init scripts, restart."""
    port = free_port()
    data = box.root / "primary"
    (box.root / "pw").write_text("app-secret\n")
    if box.run_as.is_switching:
        box.run_as.chown(box.root / "pw")
    box.run(
        [
            "initdb",
            "-D",
            str(data),
            "-U",
            "trackr",
            "--pwfile",
            str(box.root / "pw"),
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        ],
        box.env(),
    )
    options = f"-p {port} -k {box.root / 'run'} -c listen_addresses=127.0.0.1"
    ctl = ["pg_ctl", "-D", str(data), "-w", "-l", str(box.root / "primary.log"), "-o", options]
    box.run([*ctl, "start"], box.env())
    init_env = box.env(
        POSTGRES_USER="trackr", POSTGRES_DB="postgres", PGDATA=str(data),
        PGHOST=str(box.root / "run"), PGPORT=str(port), REPLICATION_PASSWORD=PASSWORD,
        REPLICATION_SLOTS="replica1", REPLICATION_ALLOWED_CIDR="127.0.0.1/32",
        WAL_ARCHIVE_DIR=str(box.root / "archive"), APP_DB_USER="app", APP_DB_PASSWORD="app-pw",
        BACKUP_VERIFY_DB="app_verify",
    )  # fmt: skip
    init = box.run(["bash", str(SCRIPTS / "primary-init.sh")], init_env)
    assert "slots replica1" in init.stdout
    box.run([*ctl, "restart"], box.env())
    try:
        yield port
    finally:
        box.run(["pg_ctl", "-D", str(data), "-m", "immediate", "stop"], box.env(), check=False)


def start_replica(
    box: Box, primary_port: int, **overrides: str
) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    env = box.env(
        PGDATA=str(box.root / "replica"), PRIMARY_HOST="127.0.0.1", PRIMARY_PORT=str(primary_port),
        REPLICATION_PASSWORD=PASSWORD, REPLICATION_SLOT="replica1", PRIMARY_WAIT_SECONDS="20",
        **overrides,
    )  # fmt: skip
    args = ["bash", str(SCRIPTS / "replica-entrypoint.sh"), "postgres", "-p", str(port),
            "-k", str(box.root / "run"), "-c", "listen_addresses=127.0.0.1"]  # fmt: skip
    process = subprocess.Popen(
        args,
        env=env,
        cwd=box.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **box.kwargs(),
    )  # type: ignore[call-overload]
    return process, port


def wait_for(check: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def stop(process: subprocess.Popen[str]) -> str:
    process.terminate()  # postgres: SIGTERM is a smart shutdown
    output, _ = process.communicate(timeout=30)
    return output


def test_replica_entrypoint_clones_and_streams(box: Box, primary: int) -> None:
    assert box.psql(primary, "SHOW wal_level") == "replica"
    assert box.psql(primary, "SHOW hot_standby_feedback") == "on"
    assert box.psql(primary, "SHOW archive_mode") == "on"
    owner = "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'postgres'"
    assert box.psql(primary, owner) == "app"  # the app's own non-superuser login
    verify_db = "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'app_verify'"
    assert box.psql(primary, verify_db) == "app"  # `trackr backup verify --method dump`'s
    assert "host replication replicator 127.0.0.1/32 scram-sha-256" in (
        box.root / "primary" / "pg_hba.conf").read_text()  # fmt: skip

    replica, port = start_replica(box, primary)
    try:
        query = "SELECT state FROM pg_stat_replication WHERE application_name = 'replica1'"
        wait_for(lambda: box.psql(primary, query) == "streaming")
        assert box.psql(port, "SELECT pg_is_in_recovery()") == "t"
        assert box.psql(primary, "SELECT active FROM pg_replication_slots") == "t"
        box.psql(primary, "CREATE TABLE shipped AS SELECT 42 AS answer")
        shipped = "SELECT to_regclass('shipped') IS NOT NULL"
        wait_for(lambda: box.psql(port, shipped, check=False) == "t")
        assert box.psql(port, "SELECT answer FROM shipped") == "42"
        box.psql(primary, "SELECT pg_switch_wal()")
        wait_for(lambda: any((box.root / "archive").iterdir()))
    finally:
        first_run = stop(replica)
    assert "clone complete" in first_run

    again, port = start_replica(box, primary)  # existing data: no second clone
    try:
        wait_for(lambda: box.psql(port, "SELECT answer FROM shipped", check=False) == "42")
    finally:
        second_run = stop(again)
    assert "cloning" not in second_run


def test_replica_entrypoint_refuses_without_a_password(box: Box) -> None:
    env = box.env(PGDATA=str(box.root / "replica"), PRIMARY_HOST="127.0.0.1")
    result = box.run(["bash", str(SCRIPTS / "replica-entrypoint.sh"), "postgres"], env, check=False)
    assert result.returncode != 0
    assert "REPLICATION_PASSWORD must be set" in result.stderr


def test_primary_init_refuses_without_a_password(box: Box) -> None:
    result = box.run(["bash", str(SCRIPTS / "primary-init.sh")], box.env(PGDATA="/nonexistent"),
                     check=False)  # fmt: skip
    assert result.returncode != 0
    assert "REPLICATION_PASSWORD must be set" in result.stderr


def test_patroni_post_bootstrap_creates_the_app_login_and_database(box: Box, primary: int) -> None:
    """Patroni calls it with a superuser connection string; running it twice is harmless."""
    script = SCRIPTS.parent / "patroni" / "post-bootstrap.sh"
    conninfo = f"host={box.root / 'run'} port={primary} user=trackr dbname=postgres"
    env = box.env(TRACKR_DB_PASSWORD="app-pw", TRACKR_DB_USER="shop", TRACKR_DB_NAME="shopdb")
    for _ in range(2):
        box.run(["bash", str(script), conninfo], env)
    owner = "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'shopdb'"
    assert box.psql(primary, owner) == "shop"
    refused = box.run(["bash", str(script), conninfo], box.env(), check=False)
    assert refused.returncode != 0
    assert "TRACKR_DB_PASSWORD must be set" in refused.stderr
