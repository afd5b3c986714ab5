"""A one-member etcd, Patroni's distributed configuration store for the local HA cluster."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.localcluster.osuser import RunAs
from app.localcluster.processes import is_alive, spawn, terminate

ETCD_PACKAGE = "etcd-server"


class EtcdNotFoundError(RuntimeError):
    pass


def find_etcd() -> str:
    """The `etcd` binary: ETCD_BIN, then PATH (Debian's etcd-server installs /usr/bin/etcd)."""
    explicit = os.environ.get("ETCD_BIN")
    found = explicit or shutil.which("etcd")
    if not found:
        raise EtcdNotFoundError(
            f"etcd is not installed: `apt-get install {ETCD_PACKAGE}` "
            "(`make ha-deps` does it), or set ETCD_BIN"
        )
    return found


@dataclass
class Etcd:
    base: Path
    client_port: int
    peer_port: int
    run_as: RunAs
    pid: int | None = None

    name = "etcd"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def datadir(self) -> Path:
        return self.base / "etcd"

    @property
    def logfile(self) -> Path:
        return self.base / "log" / "etcd.log"

    def is_running(self) -> bool:
        return is_alive(self.pid, "etcd")

    def start(self, timeout: float = 30) -> None:
        if self.is_running():
            return
        peer = f"http://127.0.0.1:{self.peer_port}"
        self.pid = spawn(
            [
                find_etcd(),
                "--name",
                "trackr",
                "--data-dir",
                str(self.datadir),
                "--listen-client-urls",
                self.url,
                "--advertise-client-urls",
                self.url,
                "--listen-peer-urls",
                peer,
                "--initial-advertise-peer-urls",
                peer,
                "--initial-cluster",
                f"trackr={peer}",
                "--initial-cluster-state",
                "new",
            ],
            self.logfile,
            self.run_as,
            self.base,
        )
        self._wait_healthy(timeout)

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).json().get("health") == "true":
                    return
            except (httpx.HTTPError, ValueError):
                pass
            if not self.is_running():
                raise RuntimeError(f"etcd exited at start; see {self.logfile}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"etcd did not become healthy in {timeout}s; see {self.logfile}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.pid is not None:
            terminate(self.pid, "etcd")
