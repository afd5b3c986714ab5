"""One Patroni-managed PostgreSQL node: its configuration, its process and its REST API."""

from __future__ import annotations

import json
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from app.localcluster.binaries import PgBinaries
from app.localcluster.node import SUPERUSER, Node
from app.localcluster.osuser import RunAs
from app.localcluster.placement import LOOPBACK, Placement
from app.localcluster.processes import (
    is_alive,
    kill,
    process_tree,
    send_all,
    terminate,
)

SCOPE = "trackr"
# Fast enough for drills, within Patroni's rules: it raises any ttl below 20 to 20, and
# wants loop_wait + 2 * retry_timeout <= ttl.
DCS_SETTINGS: dict[str, Any] = {
    "ttl": 20,
    "loop_wait": 1,
    "retry_timeout": 5,
    "maximum_lag_on_failover": 16 * 1024 * 1024,
    "synchronous_mode": True,
    "postgresql": {
        "use_pg_rewind": True,
        "use_slots": True,
        "parameters": {
            "wal_level": "replica",
            "hot_standby": "on",
            "hot_standby_feedback": "on",
            "max_wal_senders": 10,
            "max_replication_slots": 10,
            "max_slot_wal_keep_size": "1GB",
            "wal_keep_size": "64MB",
            "wal_retrieve_retry_interval": "1s",  # see cluster.PRIMARY_CONF
            "max_connections": 200,
            "password_encryption": "scram-sha-256",
        },
    },
}


def patroni_command(config: Path) -> list[str]:
    """Patroni from this interpreter's environment (the `ha` extra)."""
    return [sys.executable, "-m", "patroni", str(config)]


@dataclass
class PatroniNode:
    name: str
    pg_port: int
    api_port: int
    base: Path
    bins: PgBinaries
    run_as: RunAs
    pid: int | None = None
    placement: Placement = LOOPBACK

    @property
    def postgres(self) -> Node:
        """The PostgreSQL server under this node (for SQL and its processes; Patroni runs it)."""
        return Node(self.name, self.pg_port, self.base, self.bins, self.run_as)

    @property
    def config_path(self) -> Path:
        return self.base / "patroni" / f"{self.name}.yml"

    @property
    def logfile(self) -> Path:
        return self.base / "log" / f"{self.name}.patroni.log"

    @property
    def api_url(self) -> str:
        return f"http://{self.placement.reach_host}:{self.api_port}"

    def write_config(
        self,
        etcd_urls: list[str],
        passwords: dict[str, str],
        permanent_slots: tuple[str, ...] = (),
    ) -> None:
        """Patroni reads YAML, of which JSON is a subset: no YAML library needed here.
        `permanent_slots`: physical slots Patroni keeps on every node (and drops no other
        unknown slot's name), for a WAL consumer that must follow the leader (barman)."""
        where = self.placement
        dcs = dict(DCS_SETTINGS)
        if permanent_slots:
            dcs["slots"] = {name: {"type": "physical"} for name in permanent_slots}
        config = {
            "scope": SCOPE,
            "namespace": "/service/",
            "name": self.name,
            "restapi": {
                "listen": f"{where.listen_host}:{self.api_port}",
                "connect_address": f"{where.advertise_host}:{self.api_port}",
            },
            "etcd3": {"hosts": [url.removeprefix("http://") for url in etcd_urls]},
            "bootstrap": {
                "dcs": dcs,
                "initdb": [{"encoding": "UTF8"}, {"locale": "C"}, "data-checksums"],
            },
            "postgresql": {
                "listen": f"{where.listen_host}:{self.pg_port}",
                "connect_address": f"{where.advertise_host}:{self.pg_port}",
                "data_dir": str(self.postgres.datadir),
                "bin_dir": str(self.bins.bindir),
                "pgpass": str(self.base / "run" / f"{self.name}.pgpass"),
                "use_unix_socket": True,
                "authentication": {
                    "superuser": {"username": SUPERUSER, "password": passwords["superuser"]},
                    "replication": {
                        "username": "replicator",
                        "password": passwords["replication"],
                    },
                    "rewind": {"username": "rewinder", "password": passwords["rewind"]},
                },
                "parameters": {"unix_socket_directories": str(self.postgres.socket_dir)},
                # A replica's clone must not wait for a spread checkpoint (87 s seen with
                # three nodes cloning at once).
                "basebackup": [{"checkpoint": "fast"}],
                "pg_hba": [
                    f"local all {SUPERUSER} trust",
                    # Patroni reads its own timeline over a replication connection to the
                    # loopback address when it listens on every address: without this line a
                    # diverged old leader never learns it needs pg_rewind.
                    "host replication replicator 127.0.0.1/32 scram-sha-256",
                    f"host replication replicator {where.peers} scram-sha-256",
                    f"host all all {where.peers} scram-sha-256",
                ],
            },
            "tags": {"nofailover": False, "noloadbalance": False},
        }
        self.config_path.parent.mkdir(exist_ok=True)
        self.config_path.write_text(json.dumps(config, indent=2))
        self.config_path.chmod(0o600)
        self.run_as.chown(self.config_path)

    # -- process -----------------------------------------------------------------------------
    def is_running(self) -> bool:
        return is_alive(self.pid, "patroni")

    def start(self) -> None:
        if self.is_running():
            return
        self.pid = self.placement.spawn(
            patroni_command(self.config_path), self.logfile, self.run_as, self.base
        )

    def stop(self) -> None:
        """Patroni stops PostgreSQL cleanly on SIGTERM (and hands over leadership if it leads)."""
        if self.pid is not None:
            terminate(self.pid, "patroni")

    def process_ids(self) -> list[int]:
        """Patroni, the postmaster and all its children. They run in separate process
        sessions, so each tree is found by PID."""
        pids = [] if not self.is_running() or self.pid is None else process_tree(self.pid)
        return pids + [pid for pid in self.postgres.process_ids() if pid not in pids]

    def kill(self) -> list[int]:
        """SIGKILL every process of the node: it is lost at once."""
        pids = self.process_ids()
        kill(pids)
        return pids

    def hang(self) -> list[int]:
        """SIGSTOP every process of the node: alive, connections open, nothing answered."""
        pids = self.process_ids()
        send_all(pids, signal.SIGSTOP)
        return pids

    # -- REST API ----------------------------------------------------------------------------
    def get(self, path: str, timeout: float = 2) -> Any:
        response = httpx.get(f"{self.api_url}{path}", timeout=timeout)
        return response.json()

    def post(self, path: str, body: dict[str, Any], timeout: float = 30) -> httpx.Response:
        return httpx.post(f"{self.api_url}{path}", json=body, timeout=timeout)
