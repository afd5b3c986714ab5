"""One PostgreSQL server process (primary or replica) under the cluster's directory."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from app.localcluster.binaries import PgBinaries
from app.localcluster.osuser import RunAs
from app.localcluster.processes import process_tree

SUPERUSER = "postgres"


class NodeCommandError(RuntimeError):
    pass


@dataclass
class Node:
    name: str
    port: int
    base: Path
    bins: PgBinaries
    run_as: RunAs
    # A node outside a cluster's layout (a restored one) names its own places.
    data_path: Path | None = None
    socket_path: Path | None = None
    log_path: Path | None = None

    @property
    def datadir(self) -> Path:
        return self.data_path or self.base / self.name

    @property
    def socket_dir(self) -> Path:
        return self.socket_path or self.base / "run"

    @property
    def logfile(self) -> Path:
        return self.log_path or self.base / "log" / f"{self.name}.log"

    def run(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL binary as the unprivileged user."""
        cmd = [self.bins.path(args[0]), *args[1:]]
        result: subprocess.CompletedProcess[str] = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.base,
            **self.run_as.popen_kwargs(),  # type: ignore[call-overload]
        )
        if check and result.returncode != 0:
            raise NodeCommandError(
                f"{args[0]} failed for {self.name} (exit {result.returncode}): "
                f"{(result.stderr or result.stdout).strip()}"
            )
        return result

    def is_running(self) -> bool:
        if not (self.datadir / "PG_VERSION").exists():
            return False
        return self.run("pg_ctl", "status", "-D", str(self.datadir), check=False).returncode == 0

    def start(self) -> None:
        if self.is_running():
            return
        self.run(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(self.datadir),
            "-l",
            str(self.logfile),
            "-o",
            f"-p {self.port} -k {self.socket_dir}",
        )

    def stop(self, mode: str = "fast") -> None:
        if not self.is_running():
            return
        try:
            self.run("pg_ctl", "stop", "-w", "-t", "60", "-m", mode, "-D", str(self.datadir))
        except NodeCommandError:
            # A shutdown already under way (a smart stop whose last session just ended) may
            # finish between the check and pg_ctl, which then finds no PID file: stopped.
            if self.is_running():
                raise

    def postmaster_pid(self) -> int | None:
        pid_file = self.datadir / "postmaster.pid"
        if not pid_file.exists():
            return None
        return int(pid_file.read_text().splitlines()[0])

    def process_ids(self) -> list[int]:
        """The postmaster and every process it started (backends, walreceiver, …)."""
        root = self.postmaster_pid()
        return [] if root is None else process_tree(root)

    def freeze(self) -> None:
        """Hang the node (SIGSTOP to all its processes): connections stay open, nothing answers."""
        for pid in self.process_ids():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self.process_ids():
            os.kill(pid, signal.SIGCONT)

    def sql(self, query: str, dbname: str = "postgres", timeout: float = 30) -> str:
        """Run one statement as the superuser over the unix socket; return unaligned output."""
        result = self.run(
            "psql",
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(self.socket_dir),
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
            "-d",
            dbname,
            "-c",
            query,
            timeout=timeout,
        )
        return result.stdout.strip()

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            ready = self.run(
                "pg_isready", "-q", "-h", str(self.socket_dir), "-p", str(self.port), check=False
            )
            if ready.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise NodeCommandError(f"{self.name} did not accept connections in {timeout}s")
            time.sleep(0.05)
