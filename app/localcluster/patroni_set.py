"""What any set of Patroni nodes under one directory answers to, however they run (on
loopback: `HaCluster`; in sites' namespaces: `SitesCluster`): members, leader, health, the
app database, switchover and faults."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from app.db.patroni import PatroniMember, parse_cluster
from app.localcluster.cluster import APP_DB, APP_USER, create_app_database
from app.localcluster.node import NodeCommandError
from app.localcluster.osuser import ensure_traversable
from app.localcluster.patroni import PatroniNode
from app.localcluster.processes import send_all
from app.localcluster.state import ClusterDirectory, ClusterError

# A standby a commit waits for: Patroni's synchronous mode, or its quorum mode (sites).
SYNC_ROLES = frozenset({"sync_standby", "quorum_standby"})


def member_line(member: PatroniMember) -> str:
    """One node as `trackr cluster status` prints it."""
    lag = "-" if member.lag is None else f"{member.lag} B"
    timeline = "-" if member.timeline is None else str(member.timeline)
    return (
        f"{member.name:<8} {member.role:<13} port {member.port:<6} {member.state:<10} "
        f"timeline {timeline:<3} lag {lag}"
    )


class PatroniSet(ClusterDirectory):
    """Patroni nodes under one directory, whatever runs them: what the CLI, the tests and the
    drills ask of any of them (members, leader, health, switchover, faults)."""

    @property
    def nodes(self) -> list[PatroniNode]:
        raise NotImplementedError

    kind = "Patroni cluster"  # what the error calls a missing one
    made_by = "trackr cluster up --ha"  # the command that makes one

    def _require(self) -> dict[str, Any]:
        state = self._load()
        if state is None:
            raise ClusterError(f"no {self.kind} at {self.base}; run `{self.made_by}` first")
        return state

    def _record_pids(self) -> None:
        raise NotImplementedError

    def _grant_access(self) -> None:
        """Started by root, the servers run as the unprivileged user: it owns the directory
        and can traverse to the binaries, and to this interpreter and its packages (Patroni
        runs on them)."""
        if self.run_as.is_switching:
            self.run_as.chown(self.base)
            ensure_traversable(self.base)
            ensure_traversable(self.bins.bindir)
            ensure_traversable(Path(sys.executable).resolve())
            ensure_traversable(Path(sys.prefix) / "lib")

    def node(self, name: str) -> PatroniNode:
        for node in self.nodes:
            if node.name == name:
                return node
        raise ClusterError(f"no node {name!r}; nodes: {', '.join(n.name for n in self.nodes)}")

    def _create_app_database(self, leader: PatroniMember) -> None:
        password = self._require()["passwords"]["app"]
        create_app_database(self.node(leader.name).postgres, password)

    def start_node(self, name: str) -> None:
        node = self.node(name)
        node.start()
        self._record_pids()

    def members(self) -> list[PatroniMember]:
        """Patroni's view, from the first node whose REST API answers."""
        for node in self._view_order():
            if not node.is_running():
                continue
            try:
                return list(parse_cluster(node.get("/cluster")).members)
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                continue
        return []

    def _view_order(self) -> list[PatroniNode]:
        return self.nodes

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
            timeline = leaders[0].timeline if len(leaders) == 1 else None
            # A diverged old leader streams briefly on its old timeline before Patroni
            # notices and rewinds it: only the leader's timeline counts.
            streaming = [
                m
                for m in members
                if not m.is_leader and m.state == "streaming" and m.timeline == timeline
            ]
            # Synchronous mode: only a sync standby may be promoted, so a set without one
            # could not fail over yet.
            synced = any(m.role in SYNC_ROLES for m in streaming)
            if len(leaders) == 1 and len(streaming) == expected - 1 and synced:
                return members
            if time.monotonic() > deadline:
                seen = "; ".join(member_line(m) for m in members) or "no member answers"
                raise ClusterError(f"cluster not healthy after {timeout}s: {seen}")
            time.sleep(0.2)

    def describe_binaries(self) -> str:
        return super().describe_binaries() + ", run by Patroni"

    def app_url(self, hosts: str, database: str = APP_DB) -> str:
        """The app user's URL on `hosts` (`127.0.0.1:port`, several comma-separated, or a
        proxy in front of the nodes)."""
        password = self._require()["passwords"]["app"]
        return f"postgresql://{APP_USER}:{password}@{hosts}/{database}"

    def switchover(self, candidate: str | None = None, timeout: float = 60) -> PatroniMember:
        """Hand leadership to `candidate` (default: the sync standby); return the new leader.

        Waits first for a healthy set: in synchronous mode only the sync standby may lead.
        """
        members = self.wait_healthy(len(self.nodes), timeout)
        if candidate is not None:
            members = self.wait_synchronous(candidate, timeout)
        leader = next(m for m in members if m.is_leader)
        if candidate is None:
            candidate = next(m.name for m in members if m.role in SYNC_ROLES)
        body = {"leader": leader.name, "candidate": candidate}
        response = self.node(leader.name).post("/switchover", body, timeout=timeout)
        if response.status_code != 200:
            raise ClusterError(f"switchover refused ({response.status_code}): {response.text}")
        return self.wait_for_leader(timeout, not_named=leader.name)

    def wait_synchronous(self, name: str, timeout: float) -> list[PatroniMember]:
        """Wait until `name` is a synchronous standby: a node that just rejoined streams
        before Patroni adds it to the synchronous set, and Patroni refuses it until then."""
        deadline = time.monotonic() + timeout
        while True:
            members = self.members()
            if any(m.name == name and m.role in SYNC_ROLES for m in members):
                return members
            if time.monotonic() > deadline:
                seen = "; ".join(member_line(m) for m in members) or "no member answers"
                raise ClusterError(f"{name} is not a synchronous standby after {timeout}s: {seen}")
            time.sleep(0.2)

    def kill_leader(self, timeout: float = 60) -> tuple[PatroniMember, list[int]]:
        """SIGKILL the leader's Patroni, postmaster and children; return it and the PIDs.

        Waits first for a sync standby: without one, Patroni (rightly) promotes nobody.
        """
        members = self.wait_healthy(len(self.nodes), timeout)
        leader = next(m for m in members if m.is_leader)
        return leader, self.node(leader.name).kill()

    def hang_leader(self, timeout: float = 60) -> tuple[PatroniMember, list[int]]:
        """SIGSTOP the leader's Patroni, postmaster and children (`resume` ends it): the
        leader as a frozen or partitioned host looks, which no refused connect reveals."""
        members = self.wait_healthy(len(self.nodes), timeout)
        leader = next(m for m in members if m.is_leader)
        return leader, self.node(leader.name).hang()

    def resume(self, pids: list[int]) -> None:
        send_all(pids, signal.SIGCONT)

    def kill_replica(self, timeout: float = 60) -> tuple[PatroniMember, list[int]]:
        """SIGKILL the sync standby's Patroni, postmaster and children (a replica lost)."""
        members = self.wait_healthy(len(self.nodes), timeout)
        standby = next(m for m in members if m.role in SYNC_ROLES)
        return standby, self.node(standby.name).kill()
