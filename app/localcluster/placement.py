"""Where a local server listens, how it is reached, and where it runs (a site's namespace)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.localcluster.netns import Site
from app.localcluster.osuser import RunAs
from app.localcluster.processes import spawn


@dataclass(frozen=True)
class Placement:
    """Where a node listens and how it is reached: all on loopback by default; with sites,
    inside the site's namespace, advertised on its inter-site address and reached from here
    on its client address."""

    listen_host: str = "127.0.0.1"
    advertise_host: str = "127.0.0.1"  # what the other nodes connect to
    reach_host: str = "127.0.0.1"  # what this process connects to (the REST API)
    peers: str = "127.0.0.1/32"  # who may connect (pg_hba)
    site: Site | None = None

    def spawn(
        self, cmd: list[str], log: Path, run_as: RunAs, cwd: Path, env: dict[str, str] | None = None
    ) -> int:
        if self.site is None:
            return spawn(cmd, log, run_as, cwd, env)
        return spawn(self.site.command(cmd, run_as), log, RunAs(), cwd, env)


LOOPBACK = Placement()
