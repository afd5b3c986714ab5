"""Site drills: a whole site killed or cut off under mixed load through every site's API and
through the failover client, and the figures that describe them (issue #16).

Shared by tests/sites and `make sites-report`. Each site's API gets the bounded 80/20 mixed
load of tests/faults; the failover client (`AsyncTrackrClient` with the sites' URLs in
priority order) runs the same mix and carries its consistency token from site to site.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from trackr_client import AsyncTrackrClient, TrackrError

from app.auth import create_token
from app.config import Settings
from app.localcluster.sites import PG_PORT, SitesCluster
from tests.faults.harness import (
    MAX_REQUESTS_PER_CLIENT,
    Load,
    Sample,
    client_loop,
    missing_acknowledged,
)
from tests.ha.drills import Promotion, slowest, watch_promotion
from tests.monitor.backends import MonitorProcess
from tests.support import PAST_THE_CACHE

T = TypeVar("T")
FAULT_AT = 3.0  # seconds of steady load before the drill
CLIENTS_PER_SITE = 3
FAILOVER_WORKERS = 2
WRITE_SHARE = 0.2
CLIENT = "client"  # the failover client's samples, beside each site's


@dataclass
class SitesStage:
    cluster: SitesCluster
    api_env: dict[str, str]  # what `up` gave the API nodes (revive_site needs it again)
    write_token: str
    seeded_ids: list[int]

    @property
    def sites(self) -> list[str]:
        return [site.name for site in self.cluster.fabric.sites]

    def leader_sql(self, query: str) -> str:
        leader = self.cluster.wait_for_leader(90)
        return self.cluster.node(leader.name).postgres.sql(query, dbname="trackr")


def stage_for(cluster: SitesCluster, api_env: dict[str, str]) -> SitesStage:
    settings = Settings(app_env="test", jwt_secret=api_env["JWT_SECRET"])
    token = create_token(settings, ["products:write"], 3600, "site-drills")
    stage = SitesStage(cluster, api_env, token, [])
    ids = stage.leader_sql(
        "SELECT string_agg(id::text, ',') FROM (SELECT id FROM products ORDER BY id LIMIT 200) s"
    )
    stage.seeded_ids = [int(x) for x in ids.split(",")]
    return stage


class AnswerLog(httpx.AsyncBaseTransport):
    """The failover client's transport: each answer's time, host and status, to tell when
    the client moved to another site."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.answers: list[tuple[float, str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        self.answers.append((time.monotonic(), request.url.host, response.status_code))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass
class SitesLoad:
    by_site: dict[str, Load]  # each site's API, and CLIENT
    answers: list[tuple[float, str, int]]  # the failover client's, seconds since the load began
    marks: dict[str, float] = field(default_factory=dict)

    @property
    def acknowledged_ids(self) -> list[int]:
        return [i for load in self.by_site.values() for i in load.acknowledged_ids]


async def _timed(load: Load, kind: str, t0: float, call: Awaitable[T]) -> T | None:
    started = time.monotonic()
    try:
        result = await call
    except TrackrError as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
        load.samples.append(Sample(kind, started - t0, time.monotonic() - started, None, error))
        return None
    load.samples.append(Sample(kind, started - t0, time.monotonic() - started, 200))
    return result


async def _failover_client_loop(
    stage: SitesStage, client: AsyncTrackrClient, load: Load, t0: float, until: float, seed: int
) -> None:
    """The mixed load through the failover client. Every read carries the freshest token the
    client has seen: its reads must see its own writes at whichever site answers."""
    rng = random.Random(seed)
    for n in range(MAX_REQUESTS_PER_CLIENT):
        if time.monotonic() >= until:
            return
        if rng.random() < WRITE_SHARE:
            body = {
                "category": "games",
                "name": f"client {seed}-{n}",
                "price": n % 500,
                "attributes": {"platform": "N64"},
            }
            product = await _timed(load, "write", t0, client.create_product(body))
            if product is not None:
                load.acknowledged_ids.append(product.id)
                await _timed(load, "token_read", t0, client.get_product(product.id))
        elif rng.random() < 0.5:
            await _timed(load, "read", t0, client.get_product(rng.choice(stage.seeded_ids)))
        else:
            await _timed(load, "read", t0, client.list_products("games", limit=20))
        if not load.samples[-1].ok:
            await asyncio.sleep(0.1)


Script = Callable[[SitesLoad, float], Awaitable[None]]


async def drive(stage: SitesStage, duration: float, script: Script) -> SitesLoad:
    """CLIENTS_PER_SITE clients on each site's API and FAILOVER_WORKERS on the failover
    client, for `duration` seconds, while `script` breaks things."""
    sites = stage.sites
    load = SitesLoad({name: Load() for name in [*sites, CLIENT]}, [])
    transport = AnswerLog()
    apis = {
        site: httpx.AsyncClient(base_url=stage.cluster.api_url(site), timeout=10) for site in sites
    }
    failover = AsyncTrackrClient(
        [stage.cluster.api_url(site) for site in sites],
        token=stage.write_token,
        timeout=5,
        connect_timeout=0.5,
        transport=transport,
    )
    try:
        t0 = time.monotonic()
        until = t0 + duration
        workers = [
            client_loop(
                load.by_site[site], apis[site], t0, until, 100 * k + i, WRITE_SHARE,
                stage.write_token, stage.seeded_ids, pause_after_failure=0.1,
            )
            for k, site in enumerate(sites)
            for i in range(CLIENTS_PER_SITE)
        ]  # fmt: skip
        workers += [
            _failover_client_loop(stage, failover, load.by_site[CLIENT], t0, until, 1000 + i)
            for i in range(FAILOVER_WORKERS)
        ]
        await asyncio.gather(*workers, script(load, t0))
    finally:
        await failover.aclose()
        for api in apis.values():
            await api.aclose()
    load.answers = [(at - t0, host, status) for at, host, status in transport.answers]
    return load


@dataclass
class SiteDrillResult:
    name: str
    broken: str  # the site the drill broke
    old_leader: str
    new_leader: str | None = None
    requests: dict[str, Counter[str]] = field(default_factory=dict)  # where -> kind -> count
    failures: dict[str, dict[str, Counter[str]]] = field(default_factory=dict)
    promotion_seconds: float | None = None  # drill start -> a new leader accepts writes
    commits_seconds: float | None = None  # drill start -> a commit on it is acknowledged
    first_write_after_promotion: float | None = None  # after that commit; the slowest site's
    slowest_request_seconds: float | None = None  # at the other sites and the client
    slowest_request: str | None = None
    client_failover_seconds: float | None = None  # drill start -> first 2xx from another site
    broken_site_last_read: float | None = None  # drill start -> its last 2xx plain read
    writes_not_retryable_503: list[str] = field(default_factory=list)  # at the other sites
    acknowledged_writes: int = 0
    missing_acknowledged: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    load: SitesLoad | None = field(default=None, repr=False)  # every sample, for a closer look

    def failed(self, where: str, *kinds: str) -> int:
        chosen = kinds or tuple(self.failures.get(where, {}))
        return sum(sum(self.failures.get(where, {}).get(k, Counter()).values()) for k in chosen)

    def others(self) -> list[str]:
        return [where for where in self.requests if where not in (self.broken, CLIENT)]

    def __str__(self) -> str:  # what a failed assertion shows
        return (
            f"{self.name} ({self.broken}): {self.old_leader} -> {self.new_leader}; promotion "
            f"{self.promotion_seconds} s, commits from {self.commits_seconds} s, first write "
            f"after {self.first_write_after_promotion} "
            f"s, slowest {self.slowest_request_seconds} s ({self.slowest_request}), client "
            f"failover {self.client_failover_seconds} s, broken site's last read "
            f"{self.broken_site_last_read} s; failures {self.failures}; not 503: "
            f"{self.writes_not_retryable_503}; lost {self.missing_acknowledged}; "
            + "; ".join(self.notes)
        )


def summarize(
    name: str, broken: str, old_leader: str, load: SitesLoad, promoted: Promotion,
    broken_host: str,
    cut_off: bool = True,
) -> SiteDrillResult:  # fmt: skip
    result = SiteDrillResult(name, broken, old_leader)
    fault = load.marks["fault"]
    watched: list[Sample] = []
    for where, site_load in load.by_site.items():
        counts = result.requests.setdefault(where, Counter())
        for sample in site_load.samples:
            counts[sample.kind] += 1
            if not sample.ok:
                why = str(sample.status) if sample.status is not None else (sample.error or "?")
                result.failures.setdefault(where, {}).setdefault(sample.kind, Counter())[why] += 1
        if where == broken:
            continue
        watched += site_load.samples
        for sample in site_load.of("write"):
            if (
                where != CLIENT
                and not sample.ok
                and not (sample.status == 503 and sample.retry_after)
            ):
                result.writes_not_retryable_503.append(
                    f"{where} at {sample.started - fault:+.2f} s: {sample.status or sample.error}"
                )
    result.acknowledged_writes = len(load.acknowledged_ids)
    worst = slowest(watched, fault)
    if worst is not None:
        result.slowest_request_seconds, result.slowest_request = worst
    promotion = promoted.settled
    if promotion is not None:
        result.new_leader = promoted.leader
        result.promotion_seconds, result.commits_seconds = promoted.since(fault)
        firsts = []
        for where in [*result.others(), CLIENT]:
            oks = sorted(s.started + s.latency for s in load.by_site[where].of("write") if s.ok)
            after = [t for t in oks if t >= promotion]
            firsts.append(after[0] - promotion if after else float("inf"))
            result.notes.append(f"{where}'s first write after the promotion: {firsts[-1]:.2f} s")
        result.first_write_after_promotion = round(max(firsts), 2)
    before = [host for at, host, status in load.answers if at < fault and status < 400]
    if before and before[-1] == broken_host:  # the drill broke the client's site
        moved = [at for at, host, status in load.answers if at >= fault and host != broken_host
                 and status < 400]  # fmt: skip
        if moved:
            result.client_failover_seconds = round(moved[0] - fault, 2)
    served = [
        s.started + s.latency
        for s in load.by_site[broken].of("read")
        if s.ok and s.started >= fault
    ]
    if served and cut_off:
        result.broken_site_last_read = round(max(served) - fault, 2)
    return result


@dataclass(frozen=True)
class SiteDrill:
    title: str
    site_index: int  # which site it breaks: 0 the active one (the leader at the start)
    action: Callable[[SitesCluster, str], object]
    duration: float  # seconds of load, the drill starting FAULT_AT into it
    promotes: bool
    after: Callable[[SitesStage, str], object]  # once the load has stopped: heal, revive


def run(stage: SitesStage, drill: SiteDrill) -> SiteDrillResult:
    """The drill from a healthy cluster led by the active site; every acknowledged write is
    looked for on the leader afterwards."""
    cluster = stage.cluster
    lead_from(cluster, stage.sites[0])
    broken = stage.sites[drill.site_index]
    members = cluster.wait_healthy(len(cluster.nodes), 120)
    old = next(m for m in members if m.is_leader)
    # Every standby in the quorum first: a node that rejoined after the last drill streams a
    # loop before Patroni counts it, and cutting off the only counted one then stalls commits
    # until Patroni drops it (38 writes failed at the other sites in one report run).
    for member in members:
        if not member.is_leader:
            members = cluster.wait_synchronous(member.name, 120)
    candidates = {
        m.name: cluster.app_url(f"{cluster.fabric.site(m.name).client_address}:{PG_PORT}")
        for m in members
        if not m.is_leader and drill.promotes
    }
    promoted = Promotion()

    async def script(load: SitesLoad, t0: float) -> None:
        nonlocal promoted
        await asyncio.sleep(max(0.0, t0 + FAULT_AT - time.monotonic()))
        load.marks["fault"] = time.monotonic() - t0
        watcher = asyncio.ensure_future(watch_promotion(candidates, t0, t0 + drill.duration))
        await asyncio.to_thread(drill.action, cluster, broken)
        promoted = await watcher

    try:
        load = asyncio.run(drive(stage, drill.duration, script))
    finally:
        drill.after(stage, broken)
    broken_host = cluster.fabric.site(broken).client_address
    cut_off = drill.action is partition  # a killed site serves nothing to time
    result = summarize(drill.title, broken, old.name, load, promoted, broken_host, cut_off)
    result.load = load
    cluster.wait_healthy(len(cluster.nodes), 180)
    result.missing_acknowledged = missing_acknowledged(
        Load(acknowledged_ids=load.acknowledged_ids), stage.leader_sql
    )
    return result


# -- the actions ---------------------------------------------------------------------------


def kill_site(cluster: SitesCluster, site: str) -> None:
    cluster.kill_site(site)


def partition(cluster: SitesCluster, site: str) -> None:
    cluster.partition(site)


def revive(stage: SitesStage, site: str) -> None:
    stage.cluster.revive_site(site, stage.api_env)


def heal(stage: SitesStage, site: str) -> None:
    stage.cluster.heal(site)


LEADER_SITE_KILLED = SiteDrill(
    "The leader's site killed (SIGKILL: etcd, Patroni, PostgreSQL, API)",
    0, kill_site, duration=30, promotes=True, after=revive,
)  # fmt: skip
LEADER_SITE_PARTITIONED = SiteDrill(
    "The leader's site partitioned (alive, cut off from the other sites)",
    0, partition, duration=35, promotes=True, after=heal,
)  # fmt: skip
REPLICA_SITE_PARTITIONED = SiteDrill(
    "A replica's site partitioned (the cold one)",
    2, partition, duration=15, promotes=False, after=heal,
)  # fmt: skip
DRILLS = (LEADER_SITE_KILLED, LEADER_SITE_PARTITIONED, REPLICA_SITE_PARTITIONED)


def lead_from(cluster: SitesCluster, site: str) -> None:
    """Leadership back to `site` (the runbook's last step after a drill moved it)."""
    leader = cluster.wait_for_leader(90)
    if leader.name != site:
        cluster.switchover(site, timeout=120)


def rejoined(cluster: SitesCluster, site: str, timeout: float = 120) -> bool:
    """Whether `site`'s node streams from the leader on its timeline, as a replica, in three
    looks in a row within `timeout` s (a rewound node restarts once more before it stays)."""
    deadline = time.monotonic() + timeout
    steady = 0
    while time.monotonic() < deadline and steady < 3:
        members = {m.name: m for m in cluster.members()}
        leader = next((m for m in members.values() if m.is_leader), None)
        node = members.get(site)
        following = (
            leader is not None
            and node is not None
            and not node.is_leader
            and node.state == "streaming"
            and node.timeline == leader.timeline
        )
        steady = steady + 1 if following else 0
        time.sleep(0.5)
    return steady >= 3


def monitor_one_catalogue(cluster: SitesCluster, directory: Path, timeout: float) -> dict[str, Any]:
    """`trackr monitor` on every site's API until it shows them all answering, one product
    count and no drift; its status document then. Answering may be degraded: a site whose
    own node leads has no replica of its own in rotation, and its /health says so."""
    backends = {site.name: cluster.api_url(site.name) for site in cluster.fabric.sites}
    store = f"sqlite:///{directory}/monitor.db"
    with MonitorProcess(backends, store, directory / "monitor.log") as monitor:
        monitor.wait_until(
            lambda doc: (
                all(b["status"] in ("up", "degraded") for b in doc["backends"])
                and all(b["product_count"] is not None for b in doc["backends"])
                and len({b["product_count"] for b in doc["backends"]}) == 1
                and doc["drift"]["drifted"] is False
            ),
            timeout=timeout,
        )
        return monitor.status()


def served_by_own_node(cluster: SitesCluster, site: str, timeout: float = 60) -> bool:
    """Whether `site`'s API serves plain reads from its own node within `timeout` s (past
    the read cache, whose hits name the node that made the entry)."""
    deadline = time.monotonic() + timeout
    url = f"{cluster.api_url(site)}/api/products?limit=1"
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=5, headers=PAST_THE_CACHE)
            if response.headers.get("X-Served-By") == f"replica:{site}":
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    return False
