"""A one-member etcd, Patroni's distributed configuration store for the local HA cluster."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.localcluster.osuser import RunAs
from app.localcluster.placement import LOOPBACK, Placement
from app.localcluster.processes import is_alive, terminate

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
    member: str = "trackr"
    placement: Placement = LOOPBACK
    # `name=peer-url,…` of every member; None: a cluster of this member alone.
    initial_cluster: str | None = None

    name = "etcd"

    @property
    def url(self) -> str:
        """Where this process reaches the member."""
        return f"http://{self.placement.reach_host}:{self.client_port}"

    @property
    def client_url(self) -> str:
        """Where the other members and Patroni reach it."""
        return f"http://{self.placement.advertise_host}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{self.placement.advertise_host}:{self.peer_port}"

    @property
    def datadir(self) -> Path:
        return self.base / "etcd"

    @property
    def logfile(self) -> Path:
        return self.base / "log" / "etcd.log"

    def is_running(self) -> bool:
        return is_alive(self.pid, "etcd")

    def start(self, timeout: float = 30) -> None:
        self.launch()
        self.wait_healthy(timeout)

    def launch(self) -> None:
        """Start the process (a member of several is healthy only once a quorum runs)."""
        if self.is_running():
            return
        listen = self.placement.listen_host
        self.pid = self.placement.spawn(
            [
                find_etcd(),
                "--name", self.member,
                "--data-dir", str(self.datadir),
                "--listen-client-urls", f"http://{listen}:{self.client_port}",
                "--advertise-client-urls", self.client_url,
                "--listen-peer-urls", f"http://{listen}:{self.peer_port}",
                "--initial-advertise-peer-urls", self.peer_url,
                "--initial-cluster", self.initial_cluster or f"{self.member}={self.peer_url}",
                "--initial-cluster-state", "new",
            ],
            self.logfile,
            self.run_as,
            self.base,
        )  # fmt: skip

    def wait_healthy(self, timeout: float = 30) -> None:
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
