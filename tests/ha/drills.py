"""Patroni drills under load through trackr's HTTP API, and the figures that describe them.

Shared by tests/ha and `make failover-report`. The load is tests/faults' bounded 80/20
mixed load; what is new here is timing Patroni's promotion from the database side.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from app.db.patroni import PatroniMember
from app.localcluster.ha import HaCluster
from tests.faults.harness import Load, Sample, Stage, mark, missing_acknowledged, serve_cluster
from tests.faults.harness import run_load as drive
from tests.support import PAST_THE_CACHE

HaStage = Stage[HaCluster]
FAULT_AT = 3.0  # seconds of steady load before the drill


@dataclass
class DrillResult:
    name: str
    old_leader: str
    new_leader: str | None = None
    requests: Counter[str] = field(default_factory=Counter)
    failures: dict[str, Counter[str]] = field(default_factory=dict)
    promotion_seconds: float | None = None  # drill start -> new leader accepts writes
    commits_seconds: float | None = None  # drill start -> a commit on it is acknowledged
    first_write_after_promotion: float | None = None  # that commit -> first 2xx write answered
    write_gap_seconds: float | None = None  # longest stretch with no 2xx write answered
    slowest_request_seconds: float | None = None  # any kind, answered or failed
    slowest_request: str | None = None  # its kind and outcome
    slowest_failed_write_ms: float | None = None
    median_failed_write_ms: float | None = None
    failed_writes_after_recovery: int = 0
    acknowledged_writes: int = 0
    missing_acknowledged: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def failed(self, kind: str) -> int:
        return sum(self.failures.get(kind, Counter()).values())

    def __str__(self) -> str:  # what a failed assertion shows
        return (
            f"{self.name}: {self.old_leader} -> {self.new_leader}; promotion "
            f"{self.promotion_seconds} s, commits from {self.commits_seconds} s, first write "
            f"after {self.first_write_after_promotion}"
            f" s, write gap {self.write_gap_seconds} s, slowest request "
            f"{self.slowest_request_seconds} s ({self.slowest_request}); "
            f"failures {dict(self.failures)}; "
            f"lost {self.missing_acknowledged}; {'; '.join(self.notes)}"
        )


def serve(
    cluster: HaCluster,
    log_path: Path,
    server_env: dict[str, str],
    env: dict[str, str] | None = None,
) -> HaStage:
    """trackr on the HA cluster: by default the multi-host writer URL and PATRONI_URLS."""

    def sql(query: str) -> str:
        return leader_sql(cluster, query)

    return serve_cluster(cluster, env or cluster.env(), log_path, sql, server_env)


def leader_sql(cluster: HaCluster, query: str) -> str:
    leader = cluster.wait_for_leader(60)
    return cluster.node(leader.name).postgres.sql(query, dbname="trackr")


@dataclass
class Promotion:
    """When a new leader took over, from the database's side (seconds since the load began)."""

    leader: str | None = None
    writable: float | None = None  # pg_is_in_recovery() turned false
    # A commit on it was acknowledged: with synchronous replication, only once a standby
    # streams from it. Patroni's and PostgreSQL's part ends here; the rest is trackr's.
    commits: float | None = None

    @property
    def settled(self) -> float | None:
        """When the new leader could take writes: its first acknowledged commit if seen."""
        return self.commits or self.writable

    def since(self, fault: float) -> tuple[float | None, float | None]:
        """Seconds from the drill's start until writable, and until it commits."""

        def after(moment: float | None) -> float | None:
            return None if moment is None else round(moment - fault, 2)

        return after(self.writable), after(self.commits)


def slowest(samples: list[Sample], fault: float) -> tuple[float, str] | None:
    """The longest any of `samples` waited, and which it was (kind, start, outcome)."""
    if not samples:
        return None
    worst = max(samples, key=lambda s: s.latency)
    outcome = worst.status or worst.error
    return round(worst.latency, 2), f"{worst.kind} at {worst.started - fault:+.2f} s: {outcome}"


async def watch_promotion(dsns: dict[str, str], t0: float, until: float) -> Promotion:
    """Poll each candidate's pg_is_in_recovery() every 20 ms; on the one that turns writable,
    commit one transaction and note when it is acknowledged."""
    promotion = Promotion()

    async def watch(name: str, dsn: str) -> None:
        connection: asyncpg.Connection | None = None
        while time.monotonic() < until and promotion.leader is None:
            try:
                if connection is None:
                    connection = await asyncpg.connect(dsn, timeout=1)
                if not await connection.fetchval("SELECT pg_is_in_recovery()", timeout=1):
                    promotion.leader, promotion.writable = name, time.monotonic() - t0
                    # A commit waits for the synchronous standbys only if it wrote WAL: a
                    # temporary table's catalog rows do.
                    left = max(1.0, until - time.monotonic())
                    await connection.execute("CREATE TEMP TABLE promotion_probe ()", timeout=left)
                    promotion.commits = time.monotonic() - t0
                    break
            except (OSError, asyncpg.PostgresError, TimeoutError):
                if connection is not None:
                    connection.terminate()
                connection = None
            await asyncio.sleep(0.02)
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close(timeout=1)

    await asyncio.gather(*(watch(name, dsn) for name, dsn in dsns.items()))
    return promotion


def _candidate_dsns(cluster: HaCluster, leader: PatroniMember) -> dict[str, str]:
    _, replicas = cluster.urls()
    entries = dict(entry.split("=", 1) for entry in replicas)
    return {name: dsn for name, dsn in entries.items() if name != leader.name}


def run_drill(
    stage: HaStage,
    name: str,
    action: Callable[[HaCluster], object],
    duration: float,
    expect_promotion: bool = True,
) -> DrillResult:
    """Steady load; at FAULT_AT run `action` (a switchover, a kill); time the promotion."""
    cluster = stage.cluster
    cluster.up(len(cluster.nodes))  # a node an earlier drill left down comes back first
    members = cluster.wait_healthy(len(cluster.nodes), 90)
    old = next(m for m in members if m.is_leader)
    candidates = _candidate_dsns(cluster, old) if expect_promotion else {}
    promoted = Promotion()

    async def script(load: Load, t0: float) -> None:
        nonlocal promoted
        await asyncio.sleep(max(0.0, t0 + FAULT_AT - time.monotonic()))
        mark(load, t0, "fault")
        watcher = asyncio.ensure_future(watch_promotion(candidates, t0, t0 + duration))
        await asyncio.to_thread(action, cluster)
        promoted = await watcher

    load = asyncio.run(drive(stage, duration, script))
    result = summarize(name, old.name, load, promoted)
    result.missing_acknowledged = missing_acknowledged(load, lambda q: leader_sql(cluster, q))
    return result


def summarize(name: str, old: str, load: Load, promoted: Promotion) -> DrillResult:
    result = DrillResult(name, old)
    for sample in load.samples:
        result.requests[sample.kind] += 1
        if not sample.ok:
            reason = str(sample.status) if sample.status is not None else (sample.error or "?")
            result.failures.setdefault(sample.kind, Counter())[reason] += 1
    result.acknowledged_writes = len(load.acknowledged_ids)
    fault = load.marks["fault"]
    worst = slowest(load.samples, fault)
    if worst is not None:
        result.slowest_request_seconds, result.slowest_request = worst
    promotion = promoted.settled
    if promotion is not None:
        result.new_leader = promoted.leader
        result.promotion_seconds, result.commits_seconds = promoted.since(fault)
        answered_ok = sorted(
            s.started + s.latency for s in load.of("write") if s.ok and s.started >= fault
        )
        after = [t for t in answered_ok if t >= promotion]
        if after:
            result.first_write_after_promotion = round(after[0] - promotion, 2)
            recovered = after[0]
            result.failed_writes_after_recovery = sum(
                1 for s in load.of("write") if not s.ok and s.started >= recovered
            )
    oks = sorted(s.started + s.latency for s in load.of("write") if s.ok)
    gaps = [(b - a, a) for a, b in itertools.pairwise(oks)]
    if gaps:
        gap, since = max(gaps)
        result.write_gap_seconds = round(gap, 2)
        result.notes.append(f"longest write gap began {since - fault:+.2f} s from the drill")
    for sample in load.of("read", "token_read"):
        if not sample.ok:  # the figures a failing test needs to tell what happened
            result.notes.append(
                f"{sample.kind} failed at {sample.started - fault:+.2f} s: "
                f"{sample.status or sample.error} from {sample.served_by or '?'}"
            )
    failed_writes = [s for s in load.of("write") if not s.ok]
    if failed_writes:
        latencies = sorted(s.latency for s in failed_writes)
        result.slowest_failed_write_ms = round(latencies[-1] * 1000, 1)
        result.median_failed_write_ms = round(latencies[len(latencies) // 2] * 1000, 1)
    return result


def switchover(cluster: HaCluster) -> None:
    cluster.switchover()


def kill_leader(cluster: HaCluster) -> None:
    cluster.kill_leader()


class HangLeader:
    """The drill action that SIGSTOPs the leader; `resume` ends the hang after the drill."""

    def __init__(self) -> None:
        self.pids: list[int] = []

    def __call__(self, cluster: HaCluster) -> None:
        self.pids.extend(cluster.hang_leader()[1])

    def resume(self, cluster: HaCluster) -> None:
        cluster.resume(self.pids)
        self.pids.clear()


def kill_replica(cluster: HaCluster) -> None:
    cluster.kill_replica()


def wait_served_by(stage: HaStage, replica: str, timeout: float = 30) -> bool:
    """Whether reads come from `replica` within `timeout` s (a rejoined node in rotation).
    Past the read cache: a hit names the node that made the entry, which the cache keeps for
    as long as nothing changes it."""
    deadline = time.monotonic() + timeout
    ids = stage.seeded_ids
    with httpx.Client(base_url=stage.server.base_url, timeout=5, headers=PAST_THE_CACHE) as client:
        n = 0
        while time.monotonic() < deadline:
            response = client.get(f"/api/products/{ids[n % len(ids)]}")
            if response.headers.get("X-Served-By") == f"replica:{replica}":
                return True
            n += 1
            time.sleep(0.05)
    return False
