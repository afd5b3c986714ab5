"""WAN latency between local sites, in userspace: this kernel has no `netem` qdisc.

Inside each site's namespace an nftables rule redirects every TCP connection to another
site's inter-site address to a relay on the loopback; the relay finds the real destination
(SO_ORIGINAL_DST), connects to it with a mark the rule lets through, and passes every chunk
on one way-delay later, in both directions. Each connection between sites crosses exactly one
relay (its initiator's), so a round trip costs `rtt_ms` more. Connections from clients (the
root namespace, on the client link) are not delayed. Only connections opened after the rule
exists are relayed: `trackr cluster up --sites … --rtt-ms N` sets it before any server starts.

Run inside a namespace: `python -m app.localcluster.latency --rtt-ms 50 --port 7399`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import struct
import subprocess
import sys
import time

from app.localcluster.netns import Site

RELAY_PORT = 7399
RELAY_MARK = 0x7DE1  # the relay's own connections: not redirected again
SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h
TABLE = "trackr_latency"


def nft_rules(others: list[str], port: int = RELAY_PORT) -> str:
    """The namespace's ruleset: connections to the other sites go through the relay."""
    addresses = ", ".join(others)
    return (
        f"table ip {TABLE} {{\n"
        "  chain out {\n"
        "    type nat hook output priority -100; policy accept;\n"
        f"    meta mark {RELAY_MARK:#x} return\n"
        f"    ip daddr {{ {addresses} }} meta l4proto tcp redirect to :{port}\n"
        "  }\n"
        "}\n"
    )


def install(site: Site, others: list[str], rtt_ms: float, log_path: str) -> int:
    """The rule and the relay (as root: it sets SO_MARK) in `site`'s namespace; the relay's
    PID. Both go with the namespace."""
    subprocess.run(
        ["ip", "netns", "exec", site.namespace, "nft", "-f", "-"],
        input=nft_rules(others), text=True, check=True, capture_output=True,
    )  # fmt: skip
    cmd = ["ip", "netns", "exec", site.namespace, sys.executable, "-m", __name__,
           "--rtt-ms", str(rtt_ms), "--port", str(RELAY_PORT)]  # fmt: skip
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    _wait_listening(site, RELAY_PORT)
    return process.pid


def _wait_listening(site: Site, port: int, timeout: float = 10) -> None:
    check = f"import socket; socket.create_connection(('127.0.0.1', {port}), 1).close()"
    deadline = time.monotonic() + timeout
    while True:
        done = subprocess.run(
            ["ip", "netns", "exec", site.namespace, sys.executable, "-c", check],
            capture_output=True,
        )
        if done.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the latency relay in {site.name} does not listen")
        time.sleep(0.1)


def original_destination(sock: socket.socket) -> tuple[str, int]:
    raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    port, packed = struct.unpack_from("!2xH4s", raw)
    return socket.inet_ntoa(packed), port


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy one direction, each chunk written `delay` seconds after it was read, in order."""
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            writer.write(data)
            await writer.drain()
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        with contextlib.suppress(OSError):
            writer.write_eof()

    delivering = asyncio.create_task(deliver())
    try:
        while data := await reader.read(65536):
            queue.put_nowait((time.monotonic() + delay, data))
    except OSError:
        pass
    queue.put_nowait((time.monotonic() + delay, b""))
    with contextlib.suppress(OSError):
        await delivering


async def _relay(
    client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter, delay: float
) -> None:
    client_sock = client_writer.get_extra_info("socket")
    try:
        host, port = original_destination(client_sock)
        # No Nagle on either leg: a small write held back for an ACK would add up to 40 ms
        # (delayed ACKs) to the round trip being simulated (72 ms measured at 20 ms).
        client_sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        upstream.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, RELAY_MARK)
        upstream.setblocking(False)
        await asyncio.sleep(delay)  # the SYN's way there…
        await asyncio.get_running_loop().sock_connect(upstream, (host, port))
        await asyncio.sleep(delay)  # …and the SYN-ACK's way back
        server_reader, server_writer = await asyncio.open_connection(sock=upstream)
    except OSError:
        client_writer.close()
        return
    try:
        await asyncio.gather(
            _pump(client_reader, server_writer, delay), _pump(server_reader, client_writer, delay)
        )
    finally:
        for writer in (client_writer, server_writer):
            writer.close()


async def serve(rtt_ms: float, port: int) -> None:
    delay = rtt_ms / 2000

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _relay(reader, writer, delay)

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtt-ms", type=float, required=True)
    parser.add_argument("--port", type=int, default=RELAY_PORT)
    args = parser.parse_args()
    asyncio.run(serve(args.rtt_ms, args.port))


if __name__ == "__main__":
    main()
