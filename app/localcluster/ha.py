"""A local high-availability cluster: one etcd and 2-3 Patroni nodes on free loopback ports.

Patroni (the `ha` extra) elects the leader, runs synchronous replication, fails over and
rewinds a returning old leader; this module only starts, inspects and breaks it. State
(ports, passwords, PIDs) lives in `<base>/ha.json`, so `up` resumes and `status`, `env`,
`down`, `switchover` and `kill-leader` work from any later process.
"""

from __future__ import annotations

import secrets
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from app.db.patroni import PatroniMember, parse_cluster
from app.localcluster.cluster import APP_DB, APP_USER, STATE_FILE
from app.localcluster.etcd import Etcd
from app.localcluster.node import NodeCommandError
from app.localcluster.osuser import ensure_traversable
from app.localcluster.patroni import PatroniNode
from app.localcluster.ports import free_port
from app.localcluster.state import ClusterDirectory, ClusterError

HA_STATE_FILE = "ha.json"


def member_line(member: PatroniMember) -> str:
    """One node as `trackr cluster status` prints it."""
    lag = "-" if member.lag is None else f"{member.lag} B"
    timeline = "-" if member.timeline is None else str(member.timeline)
    return (
        f"{member.name:<8} {member.role:<13} port {member.port:<6} {member.state:<10} "
        f"timeline {timeline:<3} lag {lag}"
    )


class HaCluster(ClusterDirectory):
    state_file = HA_STATE_FILE

    def _require(self) -> dict[str, Any]:
        state = self._load()
        if state is None:
            raise ClusterError(f"no HA cluster at {self.base}; run `trackr cluster up --ha` first")
        return state

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

    def node(self, name: str) -> PatroniNode:
        for node in self.nodes:
            if node.name == name:
                return node
        raise ClusterError(f"no node {name!r}; nodes: {', '.join(n.name for n in self.nodes)}")

    # -- lifecycle ---------------------------------------------------------------------------
    def up(self, nodes: int = 2, timeout: float = 90) -> None:
        """Start (creating if needed) etcd and `nodes` Patroni nodes; wait for a healthy set."""
        if nodes not in (2, 3):
            raise ClusterError("--nodes must be 2 or 3")
        if (self.base / STATE_FILE).exists():
            raise ClusterError(
                f"{self.base} holds a plain cluster; stop it and use another --dir for --ha"
            )
        state = self._load()
        if state is None:
            state = self._create(nodes)
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

    def _create(self, nodes: int) -> dict[str, Any]:
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
        }
        self._save(state)
        for node in self.nodes:
            if node.postgres.datadir.exists():
                shutil.rmtree(node.postgres.datadir)
            node.write_config(self.etcd.url, passwords)
        if self.run_as.is_switching:
            self.run_as.chown(self.base)
            ensure_traversable(self.base)
            ensure_traversable(self.bins.bindir)
            # Patroni runs as the unprivileged user on this interpreter and its packages.
            ensure_traversable(Path(sys.executable).resolve())
            ensure_traversable(Path(sys.prefix) / "lib")
        return state

    def _create_app_database(self, leader: PatroniMember) -> None:
        postgres = self.node(leader.name).postgres
        password = self._require()["passwords"]["app"]
        postgres.sql(f"CREATE ROLE {APP_USER} WITH LOGIN PASSWORD '{password}'")
        postgres.sql(f"CREATE DATABASE {APP_DB} OWNER {APP_USER}")

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

    def start_node(self, name: str) -> None:
        node = self.node(name)
        node.start()
        self._record_pids()

    # -- inspection --------------------------------------------------------------------------
    def members(self) -> list[PatroniMember]:
        """Patroni's view, from the first node whose REST API answers."""
        for node in self.nodes:
            if not node.is_running():
                continue
            try:
                return list(parse_cluster(node.get("/cluster")).members)
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                continue
        return []

    def leader(self) -> PatroniMember | None:
        return next((m for m in self.members() if m.is_leader and m.state == "running"), None)

    def _leader_name(self) -> str | None:
        leader = self.leader()
        return leader.name if leader else None

    def wait_for_leader(self, timeout: float = 60, not_named: str | None = None) -> PatroniMember:
        deadline = time.monotonic() + timeout
        while True:
            leader = self.leader()
            if leader is not None and leader.name != not_named and self._accepts_writes(leader):
                return leader
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"no leader after {timeout}s; see {self.base / 'log'}/*.patroni.log"
                )
            time.sleep(0.2)

    def _accepts_writes(self, member: PatroniMember) -> bool:
        try:
            return self.node(member.name).postgres.sql("SELECT pg_is_in_recovery()") == "f"
        except NodeCommandError:
            return False

    def wait_healthy(self, expected: int, timeout: float = 60) -> list[PatroniMember]:
        """One running leader and `expected - 1` streaming replicas, one of them in sync."""
        deadline = time.monotonic() + timeout
        while True:
            members = self.members()
            leaders = [m for m in members if m.is_leader and m.state == "running"]
            streaming = [m for m in members if not m.is_leader and m.state == "streaming"]
            # Synchronous mode: only a sync standby may be promoted, so a set without one
            # could not fail over yet.
            synced = any(m.role == "sync_standby" for m in streaming)
            if len(leaders) == 1 and len(streaming) == expected - 1 and synced:
                return members
            if time.monotonic() > deadline:
                seen = "; ".join(member_line(m) for m in members) or "no member answers"
                raise ClusterError(f"cluster not healthy after {timeout}s: {seen}")
            time.sleep(0.2)

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

    def describe_binaries(self) -> str:
        return super().describe_binaries() + ", run by Patroni"

    # -- the app's view ----------------------------------------------------------------------
    def app_url(self, hosts: str, database: str = APP_DB) -> str:
        """The app user's URL on `hosts` (`127.0.0.1:port`, several comma-separated, or a
        proxy in front of the nodes)."""
        password = self._require()["passwords"]["app"]
        return f"postgresql://{APP_USER}:{password}@{hosts}/{database}"

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

    # -- drills ------------------------------------------------------------------------------
    def switchover(self, candidate: str | None = None, timeout: float = 60) -> PatroniMember:
        """Hand leadership to `candidate` (default: the sync standby); return the new leader.

        Waits first for a healthy set: in synchronous mode only the sync standby may lead.
        """
        members = self.wait_healthy(len(self.nodes), timeout)
        leader = next(m for m in members if m.is_leader)
        if candidate is None:
            candidate = next(m.name for m in members if m.role == "sync_standby")
        body = {"leader": leader.name, "candidate": candidate}
        response = self.node(leader.name).post("/switchover", body, timeout=timeout)
        if response.status_code != 200:
            raise ClusterError(f"switchover refused ({response.status_code}): {response.text}")
        return self.wait_for_leader(timeout, not_named=leader.name)

    def kill_leader(self, timeout: float = 60) -> tuple[PatroniMember, list[int]]:
        """SIGKILL the leader's Patroni, postmaster and children; return it and the PIDs.

        Waits first for a sync standby: without one, Patroni (rightly) promotes nobody.
        """
        members = self.wait_healthy(len(self.nodes), timeout)
        leader = next(m for m in members if m.is_leader)
        return leader, self.node(leader.name).kill()

    def kill_replica(self, timeout: float = 60) -> tuple[PatroniMember, list[int]]:
        """SIGKILL the sync standby's Patroni, postmaster and children (a replica lost)."""
        members = self.wait_healthy(len(self.nodes), timeout)
        standby = next(m for m in members if m.role == "sync_standby")
        return standby, self.node(standby.name).kill()
