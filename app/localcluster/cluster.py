"""A primary and N streaming replicas on free loopback ports, set up the way production does it.

State (ports, generated passwords) lives in `<base>/cluster.json` so `up` is idempotent and
`status`, `env` and `down` work from any later process.
"""

from __future__ import annotations

import secrets
import shutil
import time
from dataclasses import dataclass
from typing import Any

from app.localcluster.node import SUPERUSER, Node, NodeCommandError
from app.localcluster.osuser import ensure_traversable
from app.localcluster.ports import free_port
from app.localcluster.state import ClusterDirectory, ClusterError

APP_DB = "trackr"
APP_USER = "trackr"
REPLICATION_USER = "replicator"
STATE_FILE = "cluster.json"

PRIMARY_CONF = """
# trackr local cluster: a small production-shaped primary
listen_addresses = '127.0.0.1'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
hot_standby_feedback = on
# a dead replica's slot may pin at most this much WAL before it is invalidated
max_slot_wal_keep_size = '1GB'
wal_keep_size = '64MB'
# A standby whose primary is gone retries every this long; PostgreSQL 16.2 may sit out one
# whole interval after a promote request that lands as a retry is due (5 s by default: seen in
# the primary-stopped drill, docs/performance-notes.md).
wal_retrieve_retry_interval = '1s'
password_encryption = 'scram-sha-256'
max_connections = 200
shared_buffers = '128MB'
log_min_messages = warning
log_line_prefix = '%m [%p] %q%a '
"""

HBA = f"""
# TYPE  DATABASE     USER            ADDRESS         METHOD
local   all          {SUPERUSER}                     trust
host    replication  {REPLICATION_USER}    127.0.0.1/32    scram-sha-256
host    all          all             127.0.0.1/32    scram-sha-256
"""


@dataclass(frozen=True)
class NodeStatus:
    name: str
    role: str
    port: int
    state: str
    lag_bytes: int | None

    def line(self) -> str:
        lag = "-" if self.lag_bytes is None else f"{self.lag_bytes} B"
        return f"{self.name:<10} {self.role:<8} port {self.port:<6} {self.state:<10} lag {lag}"


def create_app_database(primary: Node, password: str) -> None:
    """The app's login and its database on a new primary. pg_read_all_stats lets it read the
    standbys' positions in pg_stat_replication, which make a write's consistency token exact
    (app/db/session.py)."""
    primary.sql(f"CREATE ROLE {APP_USER} WITH LOGIN PASSWORD '{password}'")
    primary.sql(f"GRANT pg_read_all_stats TO {APP_USER}")
    primary.sql(f"CREATE DATABASE {APP_DB} OWNER {APP_USER}")


class Cluster(ClusterDirectory):
    state_file = STATE_FILE

    def _node(self, name: str, port: int) -> Node:
        return Node(name=name, port=port, base=self.base, bins=self.bins, run_as=self.run_as)

    def _nodes(self, state: dict[str, Any]) -> tuple[Node, list[Node]]:
        primary = self._node("primary", state["primary"]["port"])
        replicas = [self._node(r["name"], r["port"]) for r in state["replicas"]]
        return primary, replicas

    # -- lifecycle ---------------------------------------------------------------------------
    def up(self, replicas: int = 1) -> None:
        """Start (creating if needed) a primary and at least `replicas` streaming replicas."""
        if replicas < 0:
            raise ClusterError("--replicas must be 0 or more")
        state = self._load()
        if state is None:
            state = self._create_primary()
        primary, existing = self._nodes(state)
        primary.start()
        for replica in existing:
            replica.start()
        for index in range(len(existing) + 1, replicas + 1):
            state["replicas"].append(self._create_replica(primary, state, f"replica{index}"))
            self._save(state)
        for replica in self._nodes(state)[1]:
            self._wait_streaming(primary, replica.name)

    def down(self) -> None:
        state = self._load()
        if state is None:
            return
        primary, replicas = self._nodes(state)
        for replica in replicas:
            replica.stop("fast")
        primary.stop("fast")

    def destroy(self) -> None:
        """Stop every node and delete the cluster's data."""
        self.down()
        shutil.rmtree(self.base, ignore_errors=True)

    # -- creation ----------------------------------------------------------------------------
    def _prepare_base(self) -> None:
        for sub in ("", "run", "log"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        if self.run_as.is_switching:
            ensure_traversable(self.base)
            ensure_traversable(self.bins.bindir)
            self.run_as.chown(self.base)

    def _create_primary(self) -> dict[str, Any]:
        self._prepare_base()
        state: dict[str, Any] = {
            "bindir": str(self.bins.bindir),
            "binaries_source": self.bins.source,
            "primary": {"port": free_port()},
            "replicas": [],
            "app_password": secrets.token_urlsafe(18),
            "replication_password": secrets.token_urlsafe(18),
        }
        primary = self._node("primary", state["primary"]["port"])
        if primary.datadir.exists():
            shutil.rmtree(primary.datadir)
        primary.run(
            "initdb",
            "-D",
            str(primary.datadir),
            "-U",
            SUPERUSER,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            "--data-checksums",
        )
        with open(primary.datadir / "postgresql.conf", "a") as conf:
            conf.write(PRIMARY_CONF)
        (primary.datadir / "pg_hba.conf").write_text(HBA)
        primary.start()
        primary.sql(
            f"CREATE ROLE {REPLICATION_USER} WITH REPLICATION LOGIN "
            f"PASSWORD '{state['replication_password']}'"
        )
        create_app_database(primary, state["app_password"])
        self._save(state)
        return state

    def clone_replicas_again(self) -> None:
        """Each replica cloned afresh from the (running) primary, on its own port: after the
        primary's data was replaced, what the replicas hold belongs to another history."""
        state = self._require()
        primary, replicas = self._nodes(state)
        for replica in replicas:
            replica.stop("fast")
        state["replicas"] = [
            self._create_replica(primary, state, replica.name, replica.port) for replica in replicas
        ]
        self._save(state)
        for replica in replicas:
            self._wait_streaming(primary, replica.name)

    def _create_replica(
        self, primary: Node, state: dict[str, Any], name: str, port: int | None = None
    ) -> dict[str, Any]:
        port = port or free_port()
        replica = self._node(name, port)
        if replica.datadir.exists():
            shutil.rmtree(replica.datadir)
        slot = name
        exists = primary.sql(
            f"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{slot}'"
        )
        if exists == "0":
            primary.sql(f"SELECT pg_create_physical_replication_slot('{slot}')")
        conninfo = (
            f"host=127.0.0.1 port={primary.port} user={REPLICATION_USER} "
            f"password={state['replication_password']} application_name={name}"
        )
        replica.run(
            "pg_basebackup",
            "-d",
            conninfo,
            "-D",
            str(replica.datadir),
            "-R",
            "-X",
            "stream",
            "-S",
            slot,
            "-c",
            "fast",
        )
        replica.start()
        return {"name": name, "port": port, "slot": slot}

    def _wait_streaming(self, primary: Node, name: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        query = f"SELECT state FROM pg_stat_replication WHERE application_name = '{name}'"
        while primary.sql(query) != "streaming":
            if time.monotonic() > deadline:
                raise ClusterError(f"{name} is not streaming from the primary after {timeout}s")
            time.sleep(0.05)

    # -- inspection --------------------------------------------------------------------------
    def primary(self) -> Node:
        return self._nodes(self._require())[0]

    def replicas(self) -> list[Node]:
        return self._nodes(self._require())[1]

    def _require(self) -> dict[str, Any]:
        state = self._load()
        if state is None:
            raise ClusterError(f"no cluster at {self.base}; run `trackr cluster up` first")
        return state

    def status(self) -> list[NodeStatus]:
        state = self._require()
        primary, replicas = self._nodes(state)
        rows: list[NodeStatus] = []
        primary_lsn: str | None = None
        if primary.is_running():
            primary_lsn = primary.sql("SELECT pg_current_wal_lsn()")
        rows.append(
            NodeStatus(
                "primary", "primary", primary.port, "running" if primary_lsn else "stopped", None
            )
        )
        for replica in replicas:
            if not replica.is_running():
                rows.append(NodeStatus(replica.name, "replica", replica.port, "stopped", None))
                continue
            try:
                in_recovery = replica.sql("SELECT pg_is_in_recovery()") == "t"
                lag: int | None = None
                if in_recovery and primary_lsn:
                    lag = int(
                        float(
                            replica.sql(
                                f"SELECT pg_wal_lsn_diff('{primary_lsn}', pg_last_wal_replay_lsn())"
                            )
                        )
                    )
                rows.append(
                    NodeStatus(
                        replica.name,
                        "replica" if in_recovery else "promoted",
                        replica.port,
                        "running",
                        lag,
                    )
                )
            except NodeCommandError:
                rows.append(NodeStatus(replica.name, "replica", replica.port, "unreachable", None))
        return rows

    def status_lines(self) -> list[str]:
        return [row.line() for row in self.status()]

    def urls(self, database: str = APP_DB) -> tuple[str, list[str]]:
        """The app's DATABASE_URL and its `name=url` replica entries (for `database`)."""
        state = self._require()
        password = state["app_password"]

        def url(port: int) -> str:
            return f"postgresql://{APP_USER}:{password}@127.0.0.1:{port}/{database}"

        replicas = [f"{r['name']}={url(r['port'])}" for r in state["replicas"]]
        return url(state["primary"]["port"]), replicas

    def replication_login(self) -> tuple[str, str]:
        """The replication role's name and password (WAL streaming, base backups)."""
        return REPLICATION_USER, self._require()["replication_password"]

    def superuser_conninfo(self) -> str:
        """A libpq conninfo for the superuser on the primary, over its unix socket."""
        primary = self.primary()
        return f"host={primary.socket_dir} port={primary.port} user={SUPERUSER} dbname=postgres"

    def writer_url(self) -> str:
        """Every node in one multi-host URL that connects to whichever one accepts writes."""
        state = self._require()
        hosts = ",".join(
            f"127.0.0.1:{port}"
            for port in [state["primary"]["port"], *(r["port"] for r in state["replicas"])]
        )
        return (
            f"postgresql://{APP_USER}:{state['app_password']}@{hosts}/{APP_DB}"
            "?target_session_attrs=read-write"
        )

    def env(self, database: str = APP_DB) -> dict[str, str]:
        primary_url, replica_urls = self.urls(database)
        return {"DATABASE_URL": primary_url, "DATABASE_REPLICA_URLS": ",".join(replica_urls)}

    def create_database(self, name: str) -> None:
        """Another database owned by the app user, next to `trackr` (kept if it exists)."""
        primary = self.primary()
        if primary.sql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'") != "1":
            primary.sql(f"CREATE DATABASE {name} OWNER {APP_USER}")
