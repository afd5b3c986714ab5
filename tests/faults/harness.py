"""Real failures under real load: a `trackr serve` process, a local cluster, and a bounded
load generator on 127.0.0.1. Shared by tests/faults and `make failover-report`."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx

from app.auth import create_token
from app.config import Settings
from app.db.engines import create_engine
from app.localcluster import Cluster
from app.localcluster.cluster import APP_DB
from app.localcluster.ports import free_port
from app.seed import seed

SECRET = "fault-tests-" + "s" * 40
TRACKR = str(Path(sys.executable).parent / "trackr")
ROOT = Path(__file__).resolve().parents[2]
MAX_REQUESTS_PER_CLIENT = 5000  # a hard bound on top of the duration
ClusterT = TypeVar("ClusterT")


@dataclass
class Sample:
    kind: str  # read | token_read | write | heartbeat_read
    started: float  # seconds since the load began
    latency: float
    status: int | None  # None: no HTTP response (transport error or timeout)
    error: str | None = None
    served_by: str | None = None
    retry_after: str | None = None
    staleness: float | None = None  # heartbeat reads: how old the data was

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 400


@dataclass
class Load:
    samples: list[Sample] = field(default_factory=list)
    acknowledged_ids: list[int] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)  # fault/recovery moments

    def of(self, *kinds: str) -> list[Sample]:
        return [s for s in self.samples if s.kind in kinds]


class TrackrProcess:
    """A `trackr …` command serving HTTP in its own process on a loopback port."""

    ready_path = "/health/ready"

    def __init__(
        self, args: list[str], env: dict[str, str], log_path: Path, port: int | None = None
    ) -> None:
        self.log_path = log_path
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._args = args
        self._env = {**os.environ, **env}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        return dict(self._env)

    def start(self, timeout: float = 30) -> None:
        with open(self.log_path, "ab") as log:  # a file: an unread pipe would block the server
            self.process = subprocess.Popen(
                [TRACKR, *self._args, "--port", str(self.port)],
                env=self._env,
                cwd=ROOT,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self._args[0]} exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.base_url}{self.ready_path}", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"trackr {self._args[0]} never became ready")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def api_env(cluster: Cluster, database: str = APP_DB) -> dict[str, str]:
    """What a test `trackr serve` runs with: the test secret, quiet logs, this database."""
    return {
        "APP_ENV": "test",
        "JWT_SECRET": SECRET,
        "LOG_LEVEL": "WARNING",
        **cluster.env(database),
    }


class ApiServer(TrackrProcess):
    """`trackr serve` in its own process, as a platform would run it."""

    def __init__(self, env: dict[str, str], log_path: Path, port: int | None = None) -> None:
        super().__init__(["serve", "--host", "127.0.0.1"], env, log_path, port)


@dataclass
class Stage(Generic[ClusterT]):
    """A served, seeded cluster: what the load drives and what the scenarios break."""

    cluster: ClusterT
    server: ApiServer
    write_token: str
    seeded_ids: list[int]
    heartbeat_id: int


def prepare(base: Path, server_env: dict[str, str] | None = None) -> Stage[Cluster]:
    """A fresh cluster (primary + 1 replica), migrated and seeded, and a server on it."""
    cluster = Cluster(base)
    cluster.up(replicas=1)
    env = {**cluster.env(), "DATABASE_URL": cluster.writer_url()}
    log = base.parent / f"{base.name}-server.log"
    sql = lambda q: cluster.primary().sql(q, dbname="trackr")  # noqa: E731
    return serve_cluster(cluster, env, log, sql, server_env)


def serve_cluster(
    cluster: ClusterT,
    env: dict[str, str],
    log_path: Path,
    sql_on_writer: Callable[[str], str],
    server_env: dict[str, str] | None = None,
) -> Stage[ClusterT]:
    """Migrate and seed the cluster `env` points at, and start `trackr serve` on it."""
    subprocess.run(
        [TRACKR, "db", "upgrade"],
        env={**os.environ, **env},
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    asyncio.run(seed_database(env["DATABASE_URL"]))
    settings = Settings(app_env="test", jwt_secret=SECRET)
    token = create_token(settings, ["products:write"], 3600, "fault-tests")
    server = ApiServer(
        log_path=log_path,
        env={
            "APP_ENV": "test",
            "JWT_SECRET": SECRET,
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "json",
            **env,
            **(server_env or {}),
        },
    )
    server.start()
    heartbeat = httpx.post(
        f"{server.base_url}/api/products",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "category": "coins",
            "name": "heartbeat",
            "price": 0,
            "attributes": {"denomination": "clock"},
        },
        timeout=5,
    ).json()
    ids = [
        int(x) for x in sql_on_writer("SELECT string_agg(id::text, ',') FROM products").split(",")
    ]
    return Stage(cluster, server, token, ids, heartbeat["id"])


async def seed_database(url: str) -> None:
    engine = create_engine(url)
    try:
        await seed(engine)
    finally:
        await engine.dispose()


def _sample(
    kind: str, t0: float, started: float, response: httpx.Response | None, error: str | None = None
) -> Sample:
    latency = time.monotonic() - started
    if response is None:
        return Sample(kind, started - t0, latency, None, error)
    return Sample(
        kind,
        started - t0,
        latency,
        response.status_code,
        served_by=response.headers.get("X-Served-By"),
        retry_after=response.headers.get("Retry-After"),
    )


async def _request(
    client: httpx.AsyncClient, kind: str, t0: float, method: str, url: str, **kwargs: object
) -> tuple[Sample, httpx.Response | None]:
    started = time.monotonic()
    try:
        response = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
    except httpx.HTTPError as exc:
        return _sample(kind, t0, started, None, exc.__class__.__name__), None
    return _sample(kind, t0, started, response), response


async def client_loop(
    load: Load,
    client: httpx.AsyncClient,
    t0: float,
    until: float,
    seed_value: int,
    write_share: float,
    write_token: str,
    seeded_ids: list[int],
    pause_after_failure: float = 0.0,
) -> None:
    """One client of the mixed load: reads by id and lists; writes, each followed by a read
    of what it wrote with the write's consistency token. `pause_after_failure` keeps a
    client of a dead backend from spinning on refused connections."""
    rng = random.Random(seed_value)
    auth = {"Authorization": f"Bearer {write_token}"}
    for n in range(MAX_REQUESTS_PER_CLIENT):
        if time.monotonic() >= until:
            return
        if rng.random() < write_share:
            body = {
                "category": "games",
                "name": f"load {seed_value}-{n}",
                "price": n % 500,
                "attributes": {"platform": "SNES"},
            }
            sample, response = await _request(
                client, "write", t0, "POST", "/api/products", json=body, headers=auth
            )
            load.samples.append(sample)
            if response is not None and response.status_code == 201:
                created = response.json()["id"]
                load.acknowledged_ids.append(created)
                token = response.headers["X-Consistency-Token"]
                check, _ = await _request(
                    client,
                    "token_read",
                    t0,
                    "GET",
                    f"/api/products/{created}",
                    headers={"X-Consistency-Token": token},
                )
                load.samples.append(check)
        else:
            if rng.random() < 0.5:
                url = f"/api/products/{rng.choice(seeded_ids)}"
            else:
                url = f"/api/products?category={rng.choice(['mac', 'coins', 'games'])}&limit=20"
            sample, _ = await _request(client, "read", t0, "GET", url)
            load.samples.append(sample)
        if pause_after_failure and not load.samples[-1].ok:
            await asyncio.sleep(pause_after_failure)


async def _heartbeat(
    stage: Stage[Any], load: Load, client: httpx.AsyncClient, t0: float, until: float
) -> None:
    """Writes the clock into a product; reads it back without a token to measure staleness."""
    auth = {"Authorization": f"Bearer {stage.write_token}"}
    url = f"/api/products/{stage.heartbeat_id}"
    for _ in range(MAX_REQUESTS_PER_CLIENT):
        now = time.monotonic()
        if now >= until:
            return
        await _request(
            client,
            "heartbeat_write",
            t0,
            "PATCH",
            url,
            headers=auth,
            json={"price": round(now - t0, 2)},
        )
        sample, response = await _request(client, "heartbeat_read", t0, "GET", url)
        if response is not None and response.status_code == 200:
            sample.staleness = (time.monotonic() - t0) - response.json()["price"]
        load.samples.append(sample)
        await asyncio.sleep(0.1)


FaultScript = Callable[[Load, float], Awaitable[None]]


async def run_load(
    stage: Stage[Any],
    duration: float,
    script: FaultScript,
    clients: int = 16,
    write_share: float = 0.2,
    request_timeout: float = 10.0,
) -> Load:
    """`clients` concurrent clients for `duration` seconds while `script` breaks things."""
    load = Load()
    limits = httpx.Limits(max_connections=clients + 4)
    async with httpx.AsyncClient(
        base_url=stage.server.base_url, timeout=request_timeout, limits=limits
    ) as client:
        t0 = time.monotonic()
        until = t0 + duration
        workers = [
            client_loop(
                load, client, t0, until, i, write_share, stage.write_token, stage.seeded_ids
            )
            for i in range(clients)
        ]
        await asyncio.gather(*workers, _heartbeat(stage, load, client, t0, until), script(load, t0))
    return load


def mark(load: Load, t0: float, name: str) -> None:
    load.marks[name] = time.monotonic() - t0


async def sleep_until(t0: float, at: float) -> None:
    await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))


def missing_acknowledged(load: Load, node_sql: Callable[[str], str]) -> list[int]:
    """Every id a 2xx write returned, checked on the current writer."""
    if not load.acknowledged_ids:
        return []
    present = node_sql(
        "SELECT coalesce(string_agg(id::text, ','), '') FROM products WHERE id IN ("
        + ",".join(str(i) for i in load.acknowledged_ids)
        + ")"
    )
    found = {int(x) for x in present.split(",") if x}
    return sorted(set(load.acknowledged_ids) - found)
