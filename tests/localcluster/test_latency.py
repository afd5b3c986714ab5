"""WAN latency between sites (app.localcluster.latency), for real: a connection from one
site to another crosses the delaying relay both ways; clients on the root namespace do not."""

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

from app.localcluster import latency
from app.localcluster.netns import Fabric, Site
from app.localcluster.osuser import RunAs

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None,
    reason="network namespaces and nftables need root and the nft command",
)
RTT_MS = 200
ECHO_PORT = 7101
# Inside a namespace: connect, then time each of three one-byte echoes; print the seconds.
TIMED_ECHOES = """
import socket, sys, time
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5) as s:
    for _ in range(3):
        started = time.perf_counter()
        s.sendall(b"x")
        assert s.recv(1) == b"x"
        print(time.perf_counter() - started)
"""
# One thread per connection: the relay passes a closed connection's FIN on only after the
# one-way delay, so a server serving one connection at a time would hold the next client
# (the undelayed one) in its backlog for that long.
ECHO = f"""
import socket, threading
def serve(conn):
    with conn:
        while data := conn.recv(1):
            conn.sendall(data)
server = socket.create_server(("0.0.0.0", {ECHO_PORT}))
while True:
    threading.Thread(target=serve, args=(server.accept()[0],), daemon=True).start()
"""


def echoes(site: Site, host: str) -> list[float]:
    command = site.command([sys.executable, "-c", TIMED_ECHOES, host, str(ECHO_PORT)], RunAs())
    out = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
    return [float(line) for line in out.stdout.split()]


@pytest.fixture
def fabric(tmp_path: Path) -> Iterator[Fabric]:
    made = Fabric.for_directory(tmp_path, ["render", "railway"])
    made.create()
    try:
        yield made
    finally:
        made.remove()


def test_a_round_trip_between_sites_costs_the_rtt_and_clients_pay_nothing(
    fabric: Fabric, tmp_path: Path
) -> None:
    render, railway = fabric.sites
    latency.install(render, [railway.address], RTT_MS, str(tmp_path / "relay.log"))
    server = subprocess.Popen(railway.command([sys.executable, "-c", ECHO], RunAs()))
    try:
        time.sleep(0.5)  # the echo server binds
        first, *steady = echoes(render, railway.address)
        # The first also waits for the relay's own connect (one more round trip).
        assert 2 * RTT_MS / 1000 <= first < 2 * RTT_MS / 1000 + 0.3
        for took in steady:
            assert RTT_MS / 1000 <= took < RTT_MS / 1000 + 0.15
        with socket.create_connection((railway.client_address, ECHO_PORT), timeout=2) as c:
            started = time.perf_counter()
            c.sendall(b"x")
            assert c.recv(1) == b"x"
            assert time.perf_counter() - started < 0.1  # clients reach a site undelayed
    finally:
        server.kill()
        server.wait()
