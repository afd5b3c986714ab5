"""Three real `trackr serve` backends on one cluster: one killed, one hung, one healthy.

Shared by the client tests and `python -m tests.client.report` (docs/failover.md figures).
"""

from __future__ import annotations

import os
import signal
import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from app.auth import create_token
from app.config import Settings
from app.localcluster import Cluster
from tests.faults.harness import SECRET, ApiServer

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

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """The hung backend is SIGSTOPped (it accepts connections, never answers)."""
        assert self.hung.process is not None
        os.kill(self.hung.process.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.hung.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        for server in (self.killed, self.hung, self.healthy):
            server.stop()


def start_trio(cluster: Cluster, logs: Path) -> Trio:
    env = {
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
    return Trio(killed, hung, healthy, token)


def timed(action: Callable[[], object], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return samples


def mean(samples: list[float]) -> float:
    return statistics.fmean(samples)
