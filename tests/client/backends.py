"""Three real `trackr serve` backends on one cluster: one killed, one hung, one healthy.

Shared by the client tests, `make failover-report` (docs/failover.md figures), `npm test` run
alone (`python -m tests.client.serve_trio`) and `make frontend-screenshot`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from app.auth import create_token
from app.config import Settings
from app.localcluster import Cluster
from app.localcluster.ports import free_port
from tests.conftest import alembic_config, private_dir
from tests.faults.harness import SECRET, ApiServer, seed_database

MAC = {
    "category": "mac",
    "name": "client test",
    "price": 999.0,
    "attributes": {"model": "Mac mini", "chip": "M2", "year": 2023, "ram_gb": 8},
}


@dataclass
class Trio:
    killed: ApiServer
    hung: ApiServer
    healthy: ApiServer
    token: str
    frontend_origin: str  # the one origin the backends allow cross-origin calls from (CORS)

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """The hung backend is SIGSTOPped (it accepts connections, never answers)."""
        assert self.hung.process is not None
        os.kill(self.hung.process.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.hung.process.pid, signal.SIGCONT)

    def describe(self) -> dict[str, object]:
        """What the TypeScript tests are told (TRACKR_TEST_BACKENDS): URLs, the hung PID."""
        assert self.hung.process is not None
        return {
            "killed": self.killed.base_url,
            "hung": self.hung.base_url,
            "healthy": self.healthy.base_url,
            "hungPid": self.hung.process.pid,
            "token": self.token,
            "frontendOrigin": self.frontend_origin,
        }

    def stop(self) -> None:
        for server in (self.killed, self.hung, self.healthy):
            server.stop()


def start_trio(cluster: Cluster, logs: Path) -> Trio:
    frontend_origin = f"http://127.0.0.1:{free_port()}"
    env = {
        "CORS_ALLOW_ORIGINS": frontend_origin,
        "APP_ENV": "test",
        "JWT_SECRET": SECRET,
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": cluster.writer_url(),
        "DATABASE_REPLICA_URLS": cluster.env()["DATABASE_REPLICA_URLS"],
    }
    servers = [ApiServer(env, logs / f"backend-{name}.log") for name in ("a", "b", "c")]
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda server: server.start(), servers))
    killed, hung, healthy = servers
    assert killed.process is not None
    killed.process.kill()  # connection refused from now on
    killed.process.wait()
    token = create_token(Settings(app_env="test", jwt_secret=SECRET), ["products:write"], 3600)
    return Trio(killed, hung, healthy, token, frontend_origin)


@contextmanager
def trio_on_new_cluster(prefix: str, *, seeded: bool = False) -> Iterator[tuple[Trio, Path]]:
    """A new migrated cluster (seeded with the demo catalogue if asked) and three backends on
    it, for the scripts that run outside pytest; both are gone when the block ends. Yields the
    trio and a private directory for the caller's own files."""
    with private_dir(prefix) as path:
        cluster = Cluster(path / "cluster")
        try:
            cluster.up(replicas=1)
            url = cluster.env()["DATABASE_URL"]
            command.upgrade(alembic_config(url), "head")
            if seeded:
                asyncio.run(seed_database(url))
            trio = start_trio(cluster, path)
            try:
                yield trio, path
            finally:
                trio.stop()
        finally:
            cluster.destroy()


def timed(action: Callable[[], object], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return samples


def mean(samples: list[float]) -> float:
    return statistics.fmean(samples)


@dataclass
class ClientFigures:
    direct_ms: float
    dead_first_ms: float
    dead_every_ms: float
    dead_skipped_ms: float
    hung_first_ms: float
    hung_skipped_ms: float
    hedged_first_ms: float
    timeout_s: float
    hedge_after_s: float


def measure_client(cluster: Cluster, logs: Path, reads: int = 30) -> ClientFigures:
    """Per-request latency of `get_product` through the client, in each failure layout."""
    from trackr_client import AsyncTrackrClient, TrackrClient

    timeout, hedge_after = 1.0, 0.2
    trio = start_trio(cluster, logs)
    try:

        def make(*urls: str, cooldown: float = 30.0) -> TrackrClient:
            return TrackrClient(list(urls), token=trio.token, timeout=timeout,
                                cooldown_seconds=cooldown)  # fmt: skip

        with make(trio.healthy.base_url) as direct:
            product = direct.create_product(MAC)
            read = product.id
            timed(lambda: direct.get_product(read), 5)
            direct_ms = mean(timed(lambda: direct.get_product(read), reads)) * 1000
        with make(trio.killed.base_url, trio.healthy.base_url) as api:
            dead_first = timed(lambda: api.get_product(read), 1)[0] * 1000
            dead_skipped = mean(timed(lambda: api.get_product(read), reads)) * 1000
        with make(trio.killed.base_url, trio.healthy.base_url, cooldown=0) as api:
            dead_every = mean(timed(lambda: api.get_product(read), reads)) * 1000
        with trio.frozen():
            with make(trio.hung.base_url, trio.healthy.base_url) as api:
                hung_first = timed(lambda: api.get_product(read), 1)[0] * 1000
                hung_skipped = mean(timed(lambda: api.get_product(read), reads)) * 1000

            async def hedged() -> float:
                urls = [trio.hung.base_url, trio.healthy.base_url]
                async with AsyncTrackrClient(urls, hedge_after=hedge_after) as api:
                    started = time.perf_counter()
                    await api.get_product(read)
                    return (time.perf_counter() - started) * 1000

            hedged_first = asyncio.run(hedged())
    finally:
        trio.stop()
    return ClientFigures(
        direct_ms, dead_first, dead_every, dead_skipped, hung_first, hung_skipped, hedged_first,
        timeout, hedge_after,
    )  # fmt: skip
