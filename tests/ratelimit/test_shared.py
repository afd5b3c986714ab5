"""Rate limits shared by two real `trackr serve` nodes through a real Redis, which is killed,
restarted and hung under them: counting falls back to each node's memory with no failed
request, and is shared again once Redis answers."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.localcluster import Cluster
from tests.conftest import private_dir
from tests.faults.harness import ApiServer, api_env
from tests.redis_server import RedisServer

LIMIT = 6


def _nodes(cluster: Cluster, redis: RedisServer, base: Path, reads: str) -> list[ApiServer]:
    env = {
        **api_env(cluster),
        "RATE_LIMIT_ENABLED": "true",
        "RATE_LIMIT_STORAGE_URL": redis.url,
        "RATE_LIMIT_READS": reads,
        "REDIS_COOLDOWN_SECONDS": "0.5",
        "REDIS_TIMEOUT_SECONDS": "0.2",
    }
    return [ApiServer(env, base / f"node-{name}.log") for name in "ab"]


@pytest.fixture
def two_nodes(migrated: Cluster, redis: RedisServer) -> Iterator[list[ApiServer]]:
    with private_dir("ratelimit") as base:
        nodes = _nodes(migrated, redis, base, f"{LIMIT}/minute")
        try:
            for node in nodes:
                node.start()
            yield nodes
        finally:
            for node in nodes:
                node.stop()


def _read(node: ApiServer) -> httpx.Response:
    return httpx.get(f"{node.base_url}/api/categories", timeout=5)


def _metric(node: ApiServer, name: str) -> float:
    body = httpx.get(f"{node.base_url}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith(name) and 'use="rate_limit"' in line
    )


def test_the_limit_is_shared_falls_back_per_node_and_is_shared_again(
    two_nodes: list[ApiServer], redis: RedisServer
) -> None:
    a, b = two_nodes
    # Shared: the LIMIT reads are spread over both nodes; the next one, on either, is refused.
    for n in range(LIMIT):
        assert _read(a if n % 2 else b).status_code == 200
    refused = _read(a)
    assert refused.status_code == 429
    assert "across the API nodes" in refused.json()["detail"]
    assert _read(b).status_code == 429

    # Redis killed: each node counts alone, from zero; nothing fails.
    redis.kill()
    for node in (a, b):
        statuses = [_read(node).status_code for _ in range(LIMIT)]
        assert statuses == [200] * LIMIT
        alone = _read(node)
        assert alone.status_code == 429
        assert "on this API node" in alone.json()["detail"]
        health = httpx.get(f"{node.base_url}/health", timeout=5).json()["rate_limit"]
        assert (health["storage"], health["redis"]) == ("memory", "down")
        assert health["error"]
        assert _metric(node, "trackr_redis_fallbacks_total") > 0
        assert _metric(node, "trackr_redis_up") == 0

    # Redis back (empty): after the breaker's cool-down, shared again.
    redis.restart()
    time.sleep(0.6)
    served = Counter(_read(a if n % 2 else b).status_code for n in range(LIMIT + 2))
    # Up to one read per node is the breaker's trial or lands before it: the rest share Redis.
    assert served[429] >= 1
    refused = _read(b)
    assert refused.status_code == 429
    assert "across the API nodes" in refused.json()["detail"]
    for node in (a, b):
        assert httpx.get(f"{node.base_url}/health", timeout=5).json()["rate_limit"]["redis"] == "up"
        assert _metric(node, "trackr_redis_up") == 1


def test_redis_killed_restarted_and_hung_under_load_fails_no_request(
    migrated: Cluster, redis: RedisServer
) -> None:
    with private_dir("ratelimit-load") as base:
        nodes = _nodes(migrated, redis, base, "1000000/minute")
        try:
            for node in nodes:
                node.start()
            statuses, slowest = asyncio.run(_load(nodes, redis))
            time.sleep(0.6)  # past the breaker's cool-down: the next call is the trial
            for node in nodes:
                assert _read(node).status_code == 200
                fell_back, up = (_metric(node, m) for m in ("trackr_redis_fallbacks_total",
                                                           "trackr_redis_up"))  # fmt: skip
                assert fell_back > 0, "the fallback shows in /metrics"
                assert up == 1, "and so does the recovery"
        finally:
            for node in nodes:
                node.stop()
    assert set(statuses) == {200}, statuses
    assert sum(statuses.values()) > 200
    # A hung Redis costs a request at most REDIS_TIMEOUT_SECONDS (0.2 s), then the breaker.
    assert slowest < 2.0


async def _load(nodes: list[ApiServer], redis: RedisServer) -> tuple[Counter[int], float]:
    statuses: Counter[int] = Counter()
    slowest = 0.0
    stop = asyncio.Event()

    async def reader(client: httpx.AsyncClient, node: ApiServer) -> None:
        nonlocal slowest
        while not stop.is_set():
            started = time.perf_counter()
            try:
                response = await client.get(f"{node.base_url}/api/categories")
                statuses[response.status_code] += 1
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1  # type: ignore[index]
            slowest = max(slowest, time.perf_counter() - started)

    async def faults() -> None:
        await asyncio.sleep(1.5)
        await asyncio.to_thread(redis.kill)
        await asyncio.sleep(1.5)
        await asyncio.to_thread(redis.restart)
        await asyncio.sleep(1.5)
        redis.freeze()
        await asyncio.sleep(1.5)
        redis.thaw()
        await asyncio.sleep(1.5)
        stop.set()

    async with httpx.AsyncClient(timeout=10) as client:
        readers = [reader(client, node) for node in nodes for _ in range(4)]
        await asyncio.wait_for(asyncio.gather(faults(), *readers), timeout=60)
    return statuses, slowest
