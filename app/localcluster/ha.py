"""A local high-availability cluster: one etcd and 2-3 Patroni nodes on free loopback ports.

Patroni (the `ha` extra) elects the leader, runs synchronous replication, fails over and
rewinds a returning old leader; this module only starts, inspects and breaks it. State
(ports, passwords, PIDs) lives in `<base>/ha.json`, so `up` resumes and `status`, `env`,
`down`, `switchover` and `kill-leader` work from any later process.
"""

from __future__ import annotations

import secrets
import shutil
from typing import Any

from app.localcluster.cluster import APP_DB, STATE_FILE
from app.localcluster.etcd import Etcd
from app.localcluster.node import SUPERUSER
from app.localcluster.patroni import PatroniNode
from app.localcluster.patroni_set import PatroniSet, member_line
from app.localcluster.ports import free_port
from app.localcluster.state import ClusterError

HA_STATE_FILE = "ha.json"
BACKUP_SLOT = "barman"  # the WAL streamer's slot (app/backup/barman.py: Server.slot)


class HaCluster(PatroniSet):
    state_file = HA_STATE_FILE
    kind = "HA cluster"

    def _record_pids(self) -> None:
        state = self._require()
        state["etcd"]["pid"] = self.etcd.pid
        for node in self.nodes:
            state["nodes"][node.name]["pid"] = node.pid
        self._save(state)

    @property
    def etcd(self) -> Etcd:
        if not hasattr(self, "_etcd"):
            raw = self._require()["etcd"]
            self._etcd = Etcd(
                self.base, raw["client_port"], raw["peer_port"], self.run_as, raw.get("pid")
            )
        return self._etcd

    @property
    def nodes(self) -> list[PatroniNode]:
        if not hasattr(self, "_nodes"):
            self._nodes = [
                PatroniNode(
                    name,
                    raw["pg_port"],
                    raw["api_port"],
                    self.base,
                    self.bins,
                    self.run_as,
                    raw.get("pid"),
                )
                for name, raw in self._require()["nodes"].items()
            ]
        return self._nodes

    # -- lifecycle ---------------------------------------------------------------------------
    def up(self, nodes: int = 2, timeout: float = 90, backup_slot: bool = False) -> None:
        """Start (creating if needed) etcd and `nodes` Patroni nodes; wait for a healthy set.
        `backup_slot`: a new cluster keeps the slot barman streams WAL through on every node,
        so the stream follows the leader (app/backup/local.py)."""
        if nodes not in (2, 3):
            raise ClusterError("--nodes must be 2 or 3")
        if (self.base / STATE_FILE).exists():
            raise ClusterError(
                f"{self.base} holds a plain cluster; stop it and use another --dir for --ha"
            )
        state = self._load()
        if state is None:
            state = self._create(nodes, backup_slot)
        elif len(state["nodes"]) != nodes:
            raise ClusterError(
                f"the HA cluster at {self.base} has {len(state['nodes'])} nodes; "
                "`trackr cluster down` and delete it to change the count"
            )
        self.etcd.start()
        for node in self.nodes:
            node.start()
        self._record_pids()
        leader = self.wait_for_leader(timeout)
        if not state.get("bootstrapped"):
            self._create_app_database(leader)
            state = self._require()
            state["bootstrapped"] = True
            self._save(state)
        self.wait_healthy(len(self.nodes), timeout)

    def _create(self, nodes: int, backup_slot: bool) -> dict[str, Any]:
        for sub in ("", "run", "log", "patroni"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        passwords = {
            key: secrets.token_urlsafe(18) for key in ("superuser", "replication", "rewind", "app")
        }
        state: dict[str, Any] = {
            "bindir": str(self.bins.bindir),
            "etcd": {"client_port": free_port(), "peer_port": free_port()},
            "nodes": {
                f"node{i}": {"pg_port": free_port(), "api_port": free_port()}
                for i in range(1, nodes + 1)
            },
            "passwords": passwords,
            "bootstrapped": False,
            "backup_slot": BACKUP_SLOT if backup_slot else None,
        }
        self._save(state)
        slots = (BACKUP_SLOT,) if backup_slot else ()
        for node in self.nodes:
            if node.postgres.datadir.exists():
                shutil.rmtree(node.postgres.datadir)
            node.write_config([self.etcd.url], passwords, slots)
        self._grant_access()
        return state

    def down(self) -> None:
        """Stop the replicas, then the leader (so nothing fails over), then etcd. Data is kept."""
        if self._load() is None:
            return
        leader = self._leader_name()
        for node in sorted(self.nodes, key=lambda n: n.name == leader):
            node.stop()
        self.etcd.stop()

    def destroy(self) -> None:
        """Stop everything and delete the cluster's data."""
        self.down()
        shutil.rmtree(self.base, ignore_errors=True)

    # -- inspection --------------------------------------------------------------------------
    def status_lines(self) -> list[str]:
        state = self._require()
        lines = [f"etcd     {'running' if self.etcd.is_running() else 'stopped'} {self.etcd.url}"]
        members = {m.name: m for m in self.members()}
        for name, raw in state["nodes"].items():
            member = members.get(name)
            if member is not None:
                lines.append(member_line(member))
            else:
                lines.append(f"{name:<8} {'-':<13} port {raw['pg_port']:<6} stopped")
        return lines

    # -- backups -----------------------------------------------------------------------------
    @property
    def backup_slot(self) -> str | None:
        """The slot Patroni keeps for barman on every node, if the cluster was made with it."""
        slot: str | None = self._require().get("backup_slot")
        return slot

    def pg_ports(self) -> list[int]:
        return [int(raw["pg_port"]) for raw in self._require()["nodes"].values()]

    def superuser_login(self) -> tuple[str, str]:
        return SUPERUSER, self._require()["passwords"]["superuser"]

    def replication_login(self) -> tuple[str, str]:
        return "replicator", self._require()["passwords"]["replication"]

    # -- the app's view ----------------------------------------------------------------------
    def urls(self, database: str = APP_DB) -> tuple[str, list[str]]:
        """A multi-host writer URL (whichever node accepts writes) and every node as a replica.

        trackr's replica pool leaves out the node that is not in recovery, so listing the
        leader among the replicas is harmless, and it rejoins reads the moment it is demoted.
        """
        nodes = self._require()["nodes"]
        hosts = ",".join(f"127.0.0.1:{raw['pg_port']}" for raw in nodes.values())
        writer = self.app_url(hosts, database) + "?target_session_attrs=read-write"
        replicas = [
            name + "=" + self.app_url(f"127.0.0.1:{raw['pg_port']}", database)
            for name, raw in nodes.items()
        ]
        return writer, replicas

    def env(self, database: str = APP_DB) -> dict[str, str]:
        writer, replicas = self.urls(database)
        return {
            "DATABASE_URL": writer,
            "DATABASE_REPLICA_URLS": ",".join(replicas),
            "PATRONI_URLS": ",".join(node.api_url for node in self.nodes),
        }
