"""Sites as network namespaces (app.localcluster.netns), for real: every site reaches every
other, clients reach each site, a partition silences only the inter-site link, and nothing
is left behind."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.localcluster.netns import Fabric, NetnsError, Site, require_root
from app.localcluster.osuser import RunAs

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None, reason="network namespaces need root"
)

# Inside a namespace: connect to each target's port 7100; print what each connect did
# ("ok", or the error's class), within `timeout` seconds each.
PROBE = """
import socket, sys
for target in sys.argv[2:]:
    try:
        socket.create_connection((target, 7100), timeout=float(sys.argv[1])).close()
        print("ok")
    except OSError as exc:
        print(type(exc).__name__)
"""


def probe(site: Site, targets: list[str], timeout: float = 1.0) -> list[str]:
    command = site.command([sys.executable, "-c", PROBE, str(timeout), *targets], RunAs())
    out = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
    return out.stdout.split()


def serve_in(site: Site) -> subprocess.Popen[bytes]:
    listen = "import socket, time; s = socket.create_server(('0.0.0.0', 7100)); time.sleep(30)"
    return subprocess.Popen(site.command([sys.executable, "-c", listen], RunAs()))


@pytest.fixture
def fabric(tmp_path: Path) -> Iterator[Fabric]:
    made = Fabric.for_directory(tmp_path, ["render", "railway", "fly"])
    made.create()
    try:
        yield made
    finally:
        made.remove()


def test_sites_reach_each_other_and_clients_reach_sites(fabric: Fabric) -> None:
    render, railway, fly = fabric.sites
    listeners = [serve_in(railway), serve_in(fly)]
    try:
        time.sleep(0.5)  # the listeners bind
        assert probe(render, [railway.address, fly.address]) == ["ok", "ok"]
        socket.create_connection((fly.client_address, 7100), timeout=2).close()

        fabric.partition("fly")
        assert fabric.is_partitioned("fly")
        # Silence both ways, not a refusal: the connects time out.
        assert probe(render, [fly.address, railway.address]) == ["TimeoutError", "ok"]
        assert probe(fly, [railway.address]) == ["TimeoutError"]
        socket.create_connection((fly.client_address, 7100), timeout=2).close()  # clients: yes
        fabric.heal("fly")
        assert probe(render, [fly.address]) == ["ok"]
    finally:
        for listener in listeners:
            listener.kill()
            listener.wait()


def test_remove_leaves_nothing_and_cleans_up_after_a_crash(tmp_path: Path) -> None:
    fabric = Fabric.for_directory(tmp_path, ["a", "b"])
    fabric.create()
    again = Fabric.for_directory(tmp_path, ["a", "b"])  # a new run over a crashed one
    again.create()
    again.remove()
    assert not again.exists()
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
    assert f"tk{fabric.tag}" not in links
    with pytest.raises(NetnsError, match="no site named"):
        fabric.site("c")


def test_names_fit_and_differ_per_directory(tmp_path: Path) -> None:
    one = Fabric.for_directory(tmp_path / "one", ["render"])
    two = Fabric.for_directory(tmp_path / "two", ["render"])
    assert one.sites[0].namespace != two.sites[0].namespace
    assert len(f"tk{one.tag}br") <= 15
    require_root()
