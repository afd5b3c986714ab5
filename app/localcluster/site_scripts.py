"""A site's etcd member, Patroni node and API, started by the scripts each provider runs
(deploy/sites/bin): the simulation runs the deployed configuration, not a copy of it."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from app.localcluster.etcd import Etcd, find_etcd
from app.localcluster.node import SUPERUSER
from app.localcluster.patroni import PatroniNode
from app.localcluster.state import ClusterError

SITES_DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "sites"
POST_BOOTSTRAP = SITES_DEPLOY.parent / "patroni" / "post-bootstrap.sh"
SYSTEM_PATH = "/usr/bin:/bin"


def script(name: str) -> Path:
    return SITES_DEPLOY / "bin" / name


@dataclass(frozen=True)
class SiteAddress:
    """One entry of TRACKR_SITE_MAP (deploy/sites/bin/site-lib.sh)."""

    name: str
    host: str
    pg_port: int
    patroni_port: int
    etcd_client_port: int
    etcd_peer_port: int

    def entry(self) -> str:
        ports = (self.pg_port, self.patroni_port, self.etcd_client_port, self.etcd_peer_port)
        return f"{self.name}={self.host}:" + ":".join(str(port) for port in ports)


def site_map(addresses: list[SiteAddress]) -> str:
    """TRACKR_SITE_MAP: the sites in priority order, the active one first."""
    return ",".join(address.entry() for address in addresses)


def api_env(site_vars: dict[str, str]) -> dict[str, str]:
    """What the API at a site runs with, as bin/site-api.sh computes it."""
    result = subprocess.run(
        [str(script("site-api.sh")), "--print-env"],
        env={"PATH": SYSTEM_PATH, **site_vars},
        capture_output=True,
        text=True,
        timeout=30,
    )
    if result.returncode != 0:
        raise RuntimeError(f"site-api.sh --print-env failed: {result.stderr.strip()}")
    return dict(line.split("=", 1) for line in result.stdout.splitlines())


@dataclass
class SiteEtcd(Etcd):
    """The site's member as bin/site-etcd.sh starts it."""

    site_vars: dict[str, str] = field(default_factory=dict)

    def launch(self) -> None:
        if self.is_running():
            return
        env = {
            **self.site_vars,
            "TRACKR_LISTEN_HOST": self.placement.listen_host,
            "ETCD_DATA_DIR": str(self.datadir),
            "ETCD_BIN": find_etcd(),
        }
        self.pid = self.placement.spawn(
            [str(script("site-etcd.sh"))], self.logfile, self.run_as, self.base, env
        )


@dataclass
class SitePatroniNode(PatroniNode):
    """The site's node as bin/site-patroni.sh starts it, on deploy/sites/patroni.yml; only
    what differs on this machine (paths, the namespaces' addresses) is in a local file."""

    site_vars: dict[str, str] = field(default_factory=dict)  # the map, the site, the secrets

    @property
    def config_path(self) -> Path:
        return self.base / "patroni" / "local.yml"

    def write_config(
        self,
        etcd_urls: list[str],
        passwords: dict[str, str],
        permanent_slots: tuple[str, ...] = (),
    ) -> None:
        """The local part only: etcd and the passwords come from the map and the secrets."""
        if permanent_slots:
            raise ClusterError("a site's slots are the deploy's own (deploy/sites/patroni.yml)")
        where = self.placement
        local = {
            "bootstrap": {"post_bootstrap": str(POST_BOOTSTRAP)},
            "postgresql": {
                "data_dir": str(self.postgres.datadir),
                "bin_dir": str(self.bins.bindir),
                "pgpass": str(self.base / "run" / f"{self.name}.pgpass"),
                "parameters": {"unix_socket_directories": str(self.postgres.socket_dir)},
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
        }
        self.config_path.parent.mkdir(exist_ok=True)
        self.config_path.write_text(json.dumps(local, indent=2))
        self.config_path.chmod(0o600)
        self.run_as.chown(self.config_path)

    def start(self) -> None:
        if self.is_running():
            return
        env = {
            **self.site_vars,
            "TRACKR_LISTEN_HOST": self.placement.listen_host,
            "TRACKR_PATRONI_CONFIG": str(SITES_DEPLOY / "patroni.yml"),
            "TRACKR_PATRONI_LOCAL_CONFIG": str(self.config_path),
            "PATRONI_CONFIG_DIR": str(self.base / "patroni" / "conf.d"),
            "PATRONI_COMMAND": f"{sys.executable} -m patroni",
            # post-bootstrap.sh runs psql.
            "PATH": f"{self.bins.bindir}:{SYSTEM_PATH}",
        }
        self.pid = self.placement.spawn(
            [str(script("site-patroni.sh"))], self.logfile, self.run_as, self.base, env
        )
