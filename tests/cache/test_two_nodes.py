"""Two real `trackr serve` nodes sharing a real Redis as the cache's second tier, under a
write load through A and reads through B while Redis is killed and restarted: reads with a
token are never older than their write, plain reads never older than the documented bound,
and no request fails."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from app.auth import create_token
from app.config import Settings
from app.localcluster import Cluster
from tests.conftest import private_dir
from tests.faults.harness import SECRET, ApiServer, api_env
from tests.redis_server import RedisServer

LAG_LIMIT, TTL = 2.0, 1.0
BOUND = LAG_LIMIT + TTL  # what README promises a read without a token
PRODUCTS = 8
DURATION = 7.0


@pytest.fixture
def nodes(clean_db: Cluster, redis: RedisServer) -> Iterator[tuple[ApiServer, ApiServer]]:
    env = {
        **api_env(clean_db),
        "CACHE_URL": redis.url,
        "CACHE_TTL_SECONDS": str(TTL),
        "REPLICA_MAX_LAG_SECONDS": str(LAG_LIMIT),
        "REDIS_COOLDOWN_SECONDS": "0.5",
        "REDIS_TIMEOUT_SECONDS": "0.2",
    }
    with private_dir("cache-nodes") as base:
        a, b = ApiServer(env, base / "a.log"), ApiServer(env, base / "b.log")
        try:
            a.start()
            b.start()
            yield a, b
        finally:
            a.stop()
            b.stop()


@dataclass
class Observed:
    acknowledged: dict[int, list[tuple[int, float]]] = field(default_factory=dict)
    plain_reads: list[tuple[int, int, float]] = field(default_factory=list)
    token_reads: int = 0
    older_than_token: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    cache: Counter[str] = field(default_factory=Counter)


def test_token_reads_are_never_stale_plain_reads_within_the_bound_and_nothing_fails(
    nodes: tuple[ApiServer, ApiServer], redis: RedisServer
) -> None:
    a, b = nodes
    observed = asyncio.run(_drive(a, b, redis))
    assert set(observed.statuses) <= {"200"}, observed.statuses
    assert observed.older_than_token == []
    assert observed.token_reads > 50
    stale = [
        (pid, version, started)
        for pid, version, started in observed.plain_reads
        if any(v > version and at < started - BOUND for v, at in observed.acknowledged[pid])
    ]
    assert stale == [], f"{len(stale)} of {len(observed.plain_reads)} plain reads past the bound"
    assert observed.cache["hit-memory"] > 0, observed.cache
    assert observed.cache["hit-redis"] > 0, observed.cache
    for node in (a, b):
        metrics = httpx.get(f"{node.base_url}/metrics").text
        assert 'trackr_redis_fallbacks_total{use="cache"}' in metrics
        health = httpx.get(f"{node.base_url}/health").json()["cache"]
        assert health["memory"] == "in use"


async def _drive(a: ApiServer, b: ApiServer, redis: RedisServer) -> Observed:
    observed = Observed()
    auth = {"Authorization": f"Bearer {_token()}"}
    async with httpx.AsyncClient(timeout=10) as client:
        ids = []
        for n in range(PRODUCTS):
            created = await client.post(
                f"{a.base_url}/api/products",
                headers=auth,
                json={"category": "games", "name": f"g{n}", "price": 1,
                      "attributes": {"platform": "GB"}},
            )  # fmt: skip
            created.raise_for_status()
            ids.append(created.json()["id"])
            observed.acknowledged[ids[-1]] = [(created.json()["version"], time.monotonic())]
        stop = time.monotonic() + DURATION

        async def writer() -> None:
            while time.monotonic() < stop:
                pid = random.choice(ids)
                written = await client.patch(
                    f"{a.base_url}/api/products/{pid}", headers=auth,
                    json={"price": random.randint(2, 999)},
                )  # fmt: skip
                observed.statuses[str(written.status_code)] += 1
                if written.status_code != 200:
                    continue
                version = written.json()["version"]
                observed.acknowledged[pid].append((version, time.monotonic()))
                token = {"X-Consistency-Token": written.headers["x-consistency-token"]}
                read = await client.get(f"{b.base_url}/api/products/{pid}", headers=token)
                observed.statuses[str(read.status_code)] += 1
                observed.cache[read.headers.get("x-cache", "none")] += 1
                observed.token_reads += 1
                if read.status_code == 200 and read.json()["version"] < version:
                    observed.older_than_token.append(f"{pid}: {read.json()['version']} < {version}")

        async def reader(node: ApiServer) -> None:
            while time.monotonic() < stop:
                pid = random.choice(ids)
                started = time.monotonic()
                read = await client.get(f"{node.base_url}/api/products/{pid}")
                observed.statuses[str(read.status_code)] += 1
                observed.cache[read.headers.get("x-cache", "none")] += 1
                if read.status_code == 200:
                    observed.plain_reads.append((pid, read.json()["version"], started))

        async def redis_faults() -> None:
            await asyncio.sleep(2.0)
            await asyncio.to_thread(redis.kill)
            await asyncio.sleep(2.0)
            await asyncio.to_thread(redis.restart)

        await asyncio.gather(
            redis_faults(), writer(), writer(), *(reader(node) for node in (a, b, b, b))
        )
    return observed


def _token() -> str:
    return create_token(Settings(app_env="test", jwt_secret=SECRET), ["products:write"], 600)
