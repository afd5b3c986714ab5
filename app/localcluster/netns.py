"""Sites on one machine: a network namespace per site, wired as providers are.

Each site gets two links to the root namespace:
- `site0`, its inter-site link, on a bridge shared by every site: the database, etcd and
  Patroni traffic between sites. A partition cuts only this one, silently: its port leaves
  the bridge, so packets vanish both ways, as on a broken WAN path. Every site knows every
  other's MAC address for good (permanent neighbour entries), so no failed ARP lookup turns
  the silence into a quick "no route to host".
- `cli0`, its client link, a veth pair of its own: the root namespace reaches the site's API
  (and, for the drills, its database and Patroni) through it, so an isolated site is still
  reachable by its own clients, as Render's users still reach Render when Render cannot
  reach Railway.

Every name and address derives from the cluster directory, so two clusters never collide,
and `remove` finds what a crashed run left behind. Addresses come from 10.200-249.x.x, used
only inside these namespaces and on their veth ends. Needs root (`ip netns`).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from app.localcluster.osuser import RunAs
from app.localcluster.processes import kill


class NetnsError(RuntimeError):
    pass


def _ip(*args: str, check: bool = True) -> str:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def require_root() -> None:
    if os.geteuid() != 0:
        raise NetnsError(
            "sites need network namespaces (`ip netns`), which only root can make: "
            "run `trackr cluster up --sites …` as root"
        )


@dataclass(frozen=True)
class Site:
    name: str
    index: int  # 0, 1, 2…: its addresses
    tag: str  # the cluster's short id, in every interface and namespace name
    octet: int  # the second octet of the cluster's 10.x.0.0/16

    @property
    def namespace(self) -> str:
        return f"trackr-{self.tag}-{self.name}"

    @property
    def address(self) -> str:
        """On the inter-site link: where other sites reach this site's services."""
        return f"10.{self.octet}.0.{self.index + 1}"

    @property
    def client_address(self) -> str:
        """On the client link: where the root namespace reaches this site."""
        return f"10.{self.octet}.{self.index + 1}.2"

    @property
    def _client_gateway(self) -> str:
        return f"10.{self.octet}.{self.index + 1}.1"

    @property
    def _site_veth(self) -> str:
        return f"tk{self.tag}s{self.index}"

    @property
    def _client_veth(self) -> str:
        return f"tk{self.tag}c{self.index}"

    def command(self, cmd: list[str], run_as: RunAs) -> list[str]:
        """`cmd` run inside the site's namespace, as `run_as` (dropped after entering it)."""
        inside = ["ip", "netns", "exec", self.namespace]
        if run_as.is_switching:
            inside += ["setpriv", f"--reuid={run_as.uid}", f"--regid={run_as.gid}",
                       "--clear-groups", "--"]  # fmt: skip
        return inside + cmd

    def mac(self) -> str:
        link = _ip("-n", self.namespace, "-o", "link", "show", "site0")
        return link.split("link/ether ", 1)[1].split()[0]

    def pids(self) -> list[int]:
        out = _ip("netns", "pids", self.namespace, check=False)
        return [int(pid) for pid in out.split()]


@dataclass(frozen=True)
class Fabric:
    """The namespaces and links of one cluster's sites."""

    tag: str
    sites: tuple[Site, ...]

    @classmethod
    def for_directory(cls, directory: Path, names: list[str]) -> Fabric:
        digest = hashlib.sha1(str(directory.resolve()).encode()).hexdigest()
        tag = digest[:4]
        octet = 200 + int(digest[4:8], 16) % 50
        return cls(tag, tuple(Site(name, i, tag, octet) for i, name in enumerate(names)))

    @property
    def _bridge(self) -> str:
        return f"tk{self.tag}br"

    def site(self, name: str) -> Site:
        for site in self.sites:
            if site.name == name:
                return site
        known = ", ".join(s.name for s in self.sites)
        raise NetnsError(f"no site named {name!r} (sites: {known})")

    def create(self) -> None:
        """Namespaces, the bridge and both links of every site (what exists is rebuilt)."""
        require_root()
        self.remove()
        _ip("link", "add", self._bridge, "type", "bridge")
        _ip("link", "set", self._bridge, "up")
        for site in self.sites:
            ns = site.namespace
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("link", "add", site._site_veth, "type", "veth", "peer", "name", "site0",
                "netns", ns)  # fmt: skip
            _ip("link", "set", site._site_veth, "master", self._bridge)
            _ip("link", "set", site._site_veth, "up")
            _ip("-n", ns, "addr", "add", f"{site.address}/24", "dev", "site0")
            _ip("-n", ns, "link", "set", "site0", "up")
            _ip("link", "add", site._client_veth, "type", "veth", "peer", "name", "cli0",
                "netns", ns)  # fmt: skip
            _ip("addr", "add", f"{site._client_gateway}/30", "dev", site._client_veth)
            _ip("link", "set", site._client_veth, "up")
            _ip("-n", ns, "addr", "add", f"{site.client_address}/30", "dev", "cli0")
            _ip("-n", ns, "link", "set", "cli0", "up")
        macs = {site.name: site.mac() for site in self.sites}
        for site in self.sites:
            for other in self.sites:
                if other is not site:
                    _ip("-n", site.namespace, "neigh", "replace", other.address, "lladdr",
                        macs[other.name], "dev", "site0", "nud", "permanent")  # fmt: skip

    def exists(self) -> bool:
        return any(site.namespace in _ip("netns", "list", check=False) for site in self.sites)

    def remove(self) -> None:
        """Every process in the sites' namespaces killed, every namespace and link gone: also
        what a crashed run left behind."""
        listed = _ip("netns", "list", check=False)
        for site in self.sites:
            if site.namespace in listed:
                kill(site.pids())
                _ip("netns", "del", site.namespace, check=False)
            for veth in (site._site_veth, site._client_veth):  # gone with the peer, normally
                _ip("link", "del", veth, check=False)
        _ip("link", "del", self._bridge, check=False)

    # -- drills ----------------------------------------------------------------------------
    def partition(self, name: str) -> None:
        """Cut the site off from every other site, silently; its clients still reach it."""
        _ip("link", "set", self.site(name)._site_veth, "nomaster")

    def heal(self, name: str) -> None:
        _ip("link", "set", self.site(name)._site_veth, "master", self._bridge)

    def is_partitioned(self, name: str) -> bool:
        link = _ip("-o", "link", "show", self.site(name)._site_veth, check=False)
        return bool(link) and f"master {self._bridge}" not in link
