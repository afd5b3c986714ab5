"""deploy/haproxy/haproxy.cfg for real: HAProxy in front of two `trackr serve` processes.

A node killed under load costs no read (a response cut mid-way by the kill is repeated by the
client, as for any GET), and a node told to stop (SIGTERM) costs no request at all."""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.auth import create_token
from app.config import Settings
from app.localcluster import Cluster
from app.localcluster.ports import free_port
from tests.deploy.test_static import api_drain_seconds
from tests.faults.harness import SECRET, ApiServer

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "haproxy" / "haproxy.cfg"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed"),
]


def templated(port: int, node_ports: dict[str, int]) -> str:
    """The shipped config with loopback addresses in place of the compose service names."""
    text = CONFIG.read_text().replace("bind :8080", f"bind 127.0.0.1:{port}")
    for name, node_port in node_ports.items():
        text = text.replace(f"{name}:8000", f"127.0.0.1:{node_port}")
    return text


class Stack:
    def __init__(self, cluster: Cluster, tmp: Path) -> None:
        env = {
            "APP_ENV": "test",
            "JWT_SECRET": SECRET,
            "LOG_LEVEL": "INFO",
            # as docker-compose.yml runs them: drain until HAProxy has marked the node down
            "SHUTDOWN_DRAIN_SECONDS": str(api_drain_seconds()),
            **cluster.env(),
        }
        self.nodes = {name: ApiServer(env, tmp / f"{name}.log") for name in ("api-a", "api-b")}
        self.port = free_port()
        self.config = tmp / "haproxy.cfg"
        self.config.write_text(templated(self.port, {n: s.port for n, s in self.nodes.items()}))
        self.log = tmp / "haproxy.log"
        self.haproxy: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        for node in self.nodes.values():
            node.start()
        with open(self.log, "wb") as log:
            self.haproxy = subprocess.Popen(["haproxy", "-db", "-f", str(self.config)],
                                            stdout=log, stderr=log)  # fmt: skip
        deadline = time.monotonic() + 15
        while True:  # both nodes passed their health checks
            try:
                served = {self.get_node() for _ in range(6)}
                if served == {"up"}:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.2)

    def get_node(self) -> str:
        response = httpx.get(f"http://127.0.0.1:{self.port}/health/ready", timeout=2)
        return "up" if response.status_code == 200 else "down"

    def stop(self) -> None:
        if self.haproxy is not None:
            self.haproxy.terminate()
            self.haproxy.wait(timeout=10)
        for node in self.nodes.values():
            node.stop()


@pytest.fixture
def stack(migrated: Cluster, tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(migrated, tmp_path)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


async def load(
    stack: Stack, seconds: float, writes: bool, at: float, act: object, retry_reads: bool = False
) -> Counter[str]:
    """8 clients for `seconds`; `act()` runs once at `at` seconds. Returns outcomes.

    With `retry_reads`, a GET whose connection broke is sent once more, as any HTTP client
    does for an idempotent request (and counted under "retried")."""
    outcomes: Counter[str] = Counter()
    token = create_token(Settings(app_env="test", jwt_secret=SECRET), ["products:write"], 600)
    auth = {"Authorization": f"Bearer {token}"}
    body = {"category": "games", "name": "lb", "price": 1, "attributes": {"platform": "GB"}}
    base = f"http://127.0.0.1:{stack.port}"

    async def client(index: int) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            for n in range(3000):  # bounded on top of the clock
                if time.monotonic() > until:
                    return
                try:
                    if writes and n % 5 == index % 5:
                        response = await http.post("/api/products", json=body, headers=auth)
                    else:
                        try:
                            response = await http.get("/api/products?limit=5")
                        except httpx.TransportError:
                            if not retry_reads:
                                raise
                            outcomes["retried"] += 1
                            response = await http.get("/api/products?limit=5")
                    outcomes["ok" if response.status_code < 400 else str(response.status_code)] += 1
                except httpx.HTTPError as exc:
                    outcomes[exc.__class__.__name__] += 1

    async def trigger() -> None:
        await asyncio.sleep(at)
        act()  # type: ignore[operator]

    until = time.monotonic() + seconds
    await asyncio.gather(*(client(i) for i in range(8)), trigger())
    return outcomes


def test_a_killed_node_costs_no_read(stack: Stack) -> None:
    victim = stack.nodes["api-a"].process
    assert victim is not None
    outcomes = asyncio.run(
        load(
            stack,
            6,
            writes=False,
            at=2,
            retry_reads=True,
            act=lambda: victim.send_signal(signal.SIGKILL),
        )
    )
    assert set(outcomes) <= {"ok", "retried"}, outcomes
    # A response the node had started to send when it was killed cannot be replayed by
    # HAProxy (it is already on its way to the client): the client sees a cut connection and
    # repeats the GET. Each cut must be one of those (HAProxy: `SD--` after a status), at most
    # one per client, never a request HAProxy failed to re-dispatch.
    cut_mid_response = len(re.findall(r" \d{3} \d+ - - SD-- ", stack.log.read_text()))
    assert outcomes["retried"] <= min(cut_mid_response, 8), (outcomes, cut_mid_response)
    assert outcomes["ok"] > 100
    assert victim.poll() is not None


def test_a_node_stopping_gracefully_costs_no_request(stack: Stack) -> None:
    victim = stack.nodes["api-b"].process
    assert victim is not None
    outcomes = asyncio.run(
        load(stack, 6, writes=True, at=2, act=lambda: victim.send_signal(signal.SIGTERM))
    )
    assert set(outcomes) == {"ok"}, outcomes
    assert outcomes["ok"] > 100
    # uvicorn drains, shuts the app down, then re-raises the SIGTERM it caught.
    assert victim.wait(timeout=30) in {0, -signal.SIGTERM}
    assert "Application shutdown complete" in stack.nodes["api-b"].log_path.read_text()
    # HAProxy took the node out because it said so (draining), not because it vanished.
    assert "api-b is DOWN, reason: Layer7 wrong status, code: 503" in stack.log.read_text()


async def _raw(port: int, head: bytes, *, byte_by_byte: bool = False) -> bytes:
    """Send a request head (all at once, or a byte every 0.2 s for at most 15 s) and return
    what comes back before the connection closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if byte_by_byte:
            for index in range(75):
                if reader.at_eof():
                    break
                writer.write(head[index : index + 1] or b"a")
                await writer.drain()
                try:
                    async with asyncio.timeout(0.2):
                        return await reader.read(65536)
                except TimeoutError:
                    continue
        else:
            writer.write(head)
            await writer.drain()
        async with asyncio.timeout(15):
            return await reader.read(65536)
    except (ConnectionResetError, BrokenPipeError):
        return b""
    finally:
        writer.close()


def test_haproxy_bounds_slow_and_oversized_heads(stack: Stack) -> None:
    """The shipped limits, for real: 10 s for a head, 16 KiB and 100 fields."""
    request = b"GET /api/products?limit=1 HTTP/1.1\r\nHost: trackr\r\n"

    async def scenario() -> tuple[list[bytes], list[bytes], float]:
        oversized = [
            await _raw(stack.port, request + b"X-Big: " + b"a" * 20_000 + b"\r\n\r\n"),
            await _raw(stack.port, request + b"".join(b"X-%d: 1\r\n" % i for i in range(150))
                       + b"\r\n"),
            await _raw(stack.port, request + b"Connection: close\r\n\r\n"),
        ]  # fmt: skip
        started = time.monotonic()
        slow = await asyncio.gather(
            *(_raw(stack.port, request + b"X-Slow: ", byte_by_byte=True) for _ in range(10))
        )
        return oversized, list(slow), time.monotonic() - started

    oversized, slow, seconds = asyncio.run(scenario())
    assert [r.split(b"\r\n", 1)[0] for r in oversized] == [
        b"HTTP/1.1 400 Bad request",
        b"HTTP/1.1 400 Bad request",
        b"HTTP/1.1 200 OK",
    ]
    assert all(r.startswith(b"HTTP/1.1 408") for r in slow), slow
    assert seconds < 15  # cut at `timeout http-request 10s`, not when the client gave up
