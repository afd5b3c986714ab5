"""Three sites on one machine: one Patroni cluster spanning providers, as deploy/sites runs it.

Each site (`render`, `railway`, `fly`, …) is a network namespace (app.localcluster.netns)
running its own etcd member (three members: a quorum survives one site), its Patroni node
and a `trackr serve`. The first site is the active one (Patroni's `failover_priority`
highest), the last the cold one (lowest). Quorum commit: an acknowledged write exists at two
sites. Each process is started by the script its provider runs (deploy/sites/bin, through
app.localcluster.site_scripts), on the same Patroni settings (deploy/sites/patroni.yml).
Inside a namespace every service has its standard port; the root namespace reaches a site on
its client address, and the sites reach each other on their inter-site addresses, which
`partition` silences.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from app.localcluster import latency
from app.localcluster.cluster import APP_DB, APP_USER
from app.localcluster.netns import Fabric, NetnsError, Site, require_root
from app.localcluster.osuser import RunAs, ensure_traversable
from app.localcluster.patroni import PatroniNode
from app.localcluster.patroni_set import PatroniSet
from app.localcluster.placement import Placement
from app.localcluster.processes import is_alive, kill, terminate
from app.localcluster.site_scripts import (
    SITES_DEPLOY,
    SYSTEM_PATH,
    SiteAddress,
    SiteEtcd,
    SitePatroniNode,
    api_env,
    script,
    site_map,
)
from app.localcluster.state import ClusterError

SITES_STATE_FILE = "sites.json"
PG_PORT, PATRONI_PORT, ETCD_CLIENT_PORT, ETCD_PEER_PORT, API_PORT = 5432, 8008, 2379, 2380, 8000
DEFAULT_SITES = ("render", "railway", "fly")


def trackr_command() -> list[str]:
    """This environment's `trackr` (its console script, beside the interpreter)."""
    return [str(Path(sys.executable).parent / "trackr")]


class SitesCluster(PatroniSet):
    state_file = SITES_STATE_FILE
    kind = "sites"
    made_by = "trackr cluster up --sites …"

    # -- the pieces ------------------------------------------------------------------------
    @property
    def fabric(self) -> Fabric:
        return Fabric.for_directory(self.base, list(self._require()["sites"]))

    def _placement(self, site: Site) -> Placement:
        return Placement(
            listen_host="0.0.0.0",
            advertise_host=site.address,
            reach_host=site.client_address,
            peers=f"10.{site.octet}.0.0/16",
            site=site,
        )

    @property
    def site_map(self) -> str:
        """TRACKR_SITE_MAP: every site on its inter-site address, with the standard ports."""
        return site_map(
            [
                SiteAddress(
                    s.name, s.address, PG_PORT, PATRONI_PORT, ETCD_CLIENT_PORT, ETCD_PEER_PORT
                )
                for s in self.fabric.sites
            ]
        )

    def _site_vars(self, site: str, database: str = APP_DB) -> dict[str, str]:
        """What every script of `site` is given: the map, the site and the secrets (on a
        provider: its environment variables)."""
        passwords = self._require()["passwords"]
        return {
            "TRACKR_SITE_MAP": self.site_map,
            "TRACKR_SITE": site,
            "PATRONI_SUPERUSER_PASSWORD": passwords["superuser"],
            "PATRONI_REPLICATION_PASSWORD": passwords["replication"],
            "PATRONI_REWIND_PASSWORD": passwords["rewind"],
            "TRACKR_DB_USER": APP_USER,
            "TRACKR_DB_PASSWORD": passwords["app"],
            "TRACKR_DB_NAME": database,
        }

    @property
    def nodes(self) -> list[PatroniNode]:
        if not hasattr(self, "_nodes"):
            state = self._require()
            self._nodes: list[PatroniNode] = [
                SitePatroniNode(
                    site.name,
                    PG_PORT,
                    PATRONI_PORT,
                    self.base / site.name,
                    self.bins,
                    self.run_as,
                    state["pids"].get(site.name, {}).get("patroni"),
                    self._placement(site),
                    site_vars=self._site_vars(site.name),
                )
                for site in self.fabric.sites
            ]
        return self._nodes

    @property
    def etcd_members(self) -> list[SiteEtcd]:
        if not hasattr(self, "_etcds"):
            state = self._require()
            self._etcds = [
                SiteEtcd(
                    self.base / site.name,
                    ETCD_CLIENT_PORT,
                    ETCD_PEER_PORT,
                    self.run_as,
                    state["pids"].get(site.name, {}).get("etcd"),
                    member=site.name,
                    placement=self._placement(site),
                    site_vars=self._site_vars(site.name),
                )
                for site in self.fabric.sites
            ]
        return self._etcds

    def api_url(self, site: str) -> str:
        return f"http://{self.fabric.site(site).client_address}:{API_PORT}"

    # -- lifecycle -------------------------------------------------------------------------
    def up(
        self, sites: list[str], api_env: dict[str, str], timeout: float = 120, rtt_ms: float = 0
    ) -> None:
        """Namespaces, etcd members, Patroni nodes (the active site first, so it leads) and
        an API per site, migrated and seeded; what already exists is started again. With
        `rtt_ms`, connections between sites cross a delaying relay (app.localcluster.latency)."""
        require_root()
        if len(set(sites)) != len(sites) or not 2 <= len(sites) <= 3:
            raise ClusterError("--sites takes two or three distinct names, e.g. render,railway,fly")
        state = self._load()
        if state is not None and list(state["sites"]) != sites:
            raise ClusterError(
                f"the cluster at {self.base} has sites {','.join(state['sites'])}; "
                "`trackr cluster down` and delete it to change them"
            )
        if state is None:
            state = self._create(sites)
        self._stop_processes()  # a crashed run's leftovers
        self.fabric.create()
        if rtt_ms > 0:
            self._add_latency(rtt_ms)
        for member in self.etcd_members:
            member.launch()
        for member in self.etcd_members:
            member.wait_healthy(timeout)
        # At bootstrap the active site starts alone so that it initialises and leads; once
        # bootstrapped, every node at once: whoever led last may be needed to elect a leader.
        before_leader = self.nodes if state.get("bootstrapped") else self.nodes[:1]
        for node in before_leader:
            node.start()
        self._record_pids()
        leader = self.wait_for_leader(timeout)
        for node in self.nodes[len(before_leader) :]:
            node.start()
        self._record_pids()
        if not state.get("bootstrapped"):
            # The app's role and database: post-bootstrap.sh made them, as on a provider.
            self._migrate_and_seed(leader.name)
            state = self._require()
            state["bootstrapped"] = True
            self._save(state)
        self.wait_healthy(len(self.nodes), timeout)
        for site in self.fabric.sites:
            self._start_api(site, api_env)
        self._record_pids()
        self._wait_apis(timeout)

    def _add_latency(self, rtt_ms: float) -> None:
        sites = self.fabric.sites
        for site in sites:
            others = [other.address for other in sites if other is not site]
            log = self.base / site.name / "log" / "latency.log"
            latency.install(site, others, rtt_ms, str(log))

    def _create(self, sites: list[str]) -> dict[str, Any]:
        passwords = {
            key: secrets.token_urlsafe(18) for key in ("superuser", "replication", "rewind", "app")
        }
        state: dict[str, Any] = {
            "bindir": str(self.bins.bindir),
            "sites": sites,
            "passwords": passwords,
            "pids": {},
            "bootstrapped": False,
        }
        self.base.mkdir(parents=True, exist_ok=True)
        self._save(state)
        for node in self.nodes:
            for sub in ("run", "log", "patroni"):
                (node.base / sub).mkdir(parents=True, exist_ok=True)
            if node.postgres.datadir.exists():
                shutil.rmtree(node.postgres.datadir)
            node.write_config([m.client_url for m in self.etcd_members], passwords)
        self._grant_access()
        ensure_traversable(SITES_DEPLOY / "bin")
        return state

    def _record_pids(self) -> None:
        state = self._require()
        for site, member, node in zip(
            self.fabric.sites, self.etcd_members, self.nodes, strict=True
        ):
            pids = state["pids"].setdefault(site.name, {})
            pids["etcd"], pids["patroni"] = member.pid, node.pid
        self._save(state)

    def site_env(self, site: str, database: str = APP_DB) -> dict[str, str]:
        """What the API node at `site` runs with (every node's address, its own first), as
        deploy/sites/bin/site-api.sh computes it."""
        self.fabric.site(site)  # an unknown site's error
        return api_env(self._site_vars(site, database))

    def _leader_url(self, leader: str, database: str = APP_DB) -> str:
        address = self.fabric.site(leader).client_address
        return self.app_url(f"{address}:{PG_PORT}", database)

    def _migrate_and_seed(self, leader: str) -> None:
        env = {"DATABASE_URL": self._leader_url(leader), "PATH": "/usr/bin:/bin"}
        for args in (["db", "upgrade"], ["seed"]):
            subprocess.run(
                [*trackr_command(), *args], env=env, check=True, capture_output=True,
                cwd=Path(__file__).resolve().parents[2], timeout=120,
            )  # fmt: skip

    def _start_api(self, site: Site, api_env: dict[str, str]) -> None:
        state = self._require()
        pids = state["pids"].setdefault(site.name, {})
        if is_alive(pids.get("api"), "serve"):
            return
        serve = [*trackr_command(), "serve", "--host", "0.0.0.0", "--port", str(API_PORT)]
        env = {
            "APP_ENV": "development", "LOG_FORMAT": "json", "LOG_LEVEL": "WARNING",
            "PATH": SYSTEM_PATH, **api_env, **self._site_vars(site.name),
            "TRACKR_API_COMMAND": " ".join(serve),
        }  # fmt: skip
        log = self.base / site.name / "log" / "api.log"
        with open(log, "ab") as out:
            process = subprocess.Popen(
                site.command([str(script("site-api.sh"))], RunAs()),
                stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, env=env, start_new_session=True,
                cwd=Path(__file__).resolve().parents[2],
            )  # fmt: skip
        pids["api"] = process.pid
        self._save(state)

    def _wait_apis(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for site in self.fabric.sites:
            while True:
                try:
                    ready = httpx.get(f"{self.api_url(site.name)}/health/ready", timeout=1)
                    if ready.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    log = self.base / site.name / "log" / "api.log"
                    raise ClusterError(f"the API at {site.name} is not ready; see {log}")
                time.sleep(0.2)

    def _stop_processes(self) -> None:
        state = self._load()
        if state is None:
            return
        for pids in state["pids"].values():
            if is_alive(pids.get("api"), "serve"):
                terminate(pids["api"], "serve", timeout=30)

    def down(self) -> None:
        """The APIs, then the replicas, then the leader (so nothing fails over), then etcd;
        then every namespace and link. Data is kept."""
        state = self._load()
        if state is None:
            return
        self._stop_processes()
        leader = self._leader_name()
        for node in sorted(self.nodes, key=lambda n: n.name == leader):
            node.stop()
        for member in self.etcd_members:
            member.stop()
        self.fabric.remove()

    # -- drills ----------------------------------------------------------------------------
    def partition(self, site: str) -> None:
        self.fabric.partition(site)

    def heal(self, site: str) -> None:
        self.fabric.heal(site)

    def kill_site(self, site: str) -> list[int]:
        """SIGKILL every process of the site at once: its provider is gone."""
        pids = self.fabric.site(site).pids()
        kill(pids)
        return pids

    def revive_site(self, site: str, api_env: dict[str, str], timeout: float = 120) -> None:
        """Start again what a killed site ran (etcd member, Patroni node, API) and wait until
        it serves: its node back as a replica of whoever leads now."""
        index = self.fabric.sites.index(self.fabric.site(site))
        self.etcd_members[index].start(timeout)
        self.nodes[index].start()
        self._record_pids()
        self.wait_healthy(len(self.nodes), timeout)
        self._start_api(self.fabric.sites[index], api_env)
        self._record_pids()
        self._wait_apis(timeout)

    def _view_order(self) -> list[PatroniNode]:
        """Sites that are not cut off first: an isolated node answers its own clients with
        what it last knew."""
        return sorted(self.nodes, key=lambda node: self._partitioned(node.name))

    def status_lines(self) -> list[str]:
        members = {m.name: m for m in self.members()}
        lines = []
        for site in self.fabric.sites:
            member = members.get(site.name)
            role = member.role if member else "down"
            cut = "  (partitioned)" if self._partitioned(site.name) else ""
            lines.append(f"{site.name:<8} {role:<14} {self.api_url(site.name)}{cut}")
        return lines

    def _partitioned(self, site: str) -> bool:
        try:
            return self.fabric.is_partitioned(site)
        except NetnsError:
            return False
