"""deploy/patroni/haproxy.cfg run for real in front of the local Patroni nodes."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from pathlib import Path

from app.localcluster.ha import HaCluster
from app.localcluster.ports import free_port

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "patroni" / "haproxy.cfg"
SERVER = re.compile(r"server (patroni\d+) patroni\d+:5432 check port 8008")


def templated(primary_port: int, replicas_port: int, cluster: HaCluster) -> str:
    """The shipped config with loopback ports in place of compose's service names.

    Compose's patroni1, patroni2 are the local cluster's node1, node2, in order.
    """
    nodes = {f"patroni{i}": node for i, node in enumerate(cluster.nodes, start=1)}

    def local(match: re.Match[str]) -> str:
        node = nodes[match.group(1)]
        return f"server {node.name} 127.0.0.1:{node.pg_port} check port {node.api_port}"

    text = CONFIG.read_text()
    text = text.replace("bind :5000", f"bind 127.0.0.1:{primary_port}")
    text = text.replace("bind :5001", f"bind 127.0.0.1:{replicas_port}")
    return SERVER.sub(local, text)


class HaProxyDb:
    def __init__(self, cluster: HaCluster, directory: Path) -> None:
        self.cluster = cluster
        self.primary_port = free_port()
        self.replicas_port = free_port()
        self.config = directory / "haproxy-db.cfg"
        self.config.write_text(templated(self.primary_port, self.replicas_port, cluster))
        self.log = directory / "haproxy-db.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15) -> None:
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                ["haproxy", "-db", "-f", str(self.config)], stdout=log, stderr=log
            )
        deadline = time.monotonic() + timeout
        while not self._accepts(self.primary_port):
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.1)

    @staticmethod
    def _accepts(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    def env(self) -> dict[str, str]:
        primary = self.cluster.app_url(f"127.0.0.1:{self.primary_port}")
        replicas = self.cluster.app_url(f"127.0.0.1:{self.replicas_port}")
        return {"DATABASE_URL": primary, "DATABASE_REPLICA_URLS": f"replicas={replicas}"}

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
