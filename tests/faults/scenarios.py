"""The failover scenarios: what breaks, when, and the figures that describe how trackr rode it."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from app.localcluster import Cluster
from app.localcluster.node import Node
from tests.faults.harness import (
    Load,
    Sample,
    Stage,
    mark,
    missing_acknowledged,
    prepare,
    sleep_until,
)
from tests.faults.harness import run_load as drive

LAG_LIMIT_SECONDS = 2.0  # scenario 2 runs with REPLICA_MAX_LAG_SECONDS=2 to be quick
CHECK_INTERVAL_SECONDS = 1.0  # the product default


@dataclass
class Result:
    name: str
    title: str
    duration: float
    fault_window: tuple[float, float]
    requests: Counter[str] = field(default_factory=Counter)
    failures: dict[str, Counter[str]] = field(default_factory=dict)
    detect_seconds: float | None = None
    recover_seconds: float | None = None
    p99_ms_during_fault: dict[str, float] = field(default_factory=dict)
    max_failed_write_ms: float | None = None
    max_read_ms: float | None = None
    p50_failed_write_ms: float | None = None
    p50_ms_before_fault: float | None = None
    unavailable_without_retry_after: int = 0
    max_replica_staleness: float | None = None
    served_by: Counter[str] = field(default_factory=Counter)
    missing_acknowledged: list[int] = field(default_factory=list)
    acknowledged_writes: int = 0
    notes: list[str] = field(default_factory=list)

    def failed(self, kind: str) -> int:
        return sum(self.failures.get(kind, Counter()).values())


def _percentile(samples: list[Sample], q: float) -> float:
    if not samples:
        return math.nan
    ordered = sorted(s.latency for s in samples)
    return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)] * 1000, 1)


def _p99(samples: list[Sample]) -> float:
    return _percentile(samples, 0.99)


def on_replica(sample: Sample) -> bool:
    return (sample.served_by or "").startswith("replica")


def _first(samples: list[Sample], after: float, test: Callable[[Sample], bool]) -> float | None:
    hits = [s.started for s in samples if s.started >= after and test(s)]
    return round(min(hits) - after, 2) if hits else None


def summarize(
    name: str,
    title: str,
    duration: float,
    load: Load,
    stage: Stage[Cluster],
    window: tuple[float, float],
    sql_on_writer: Callable[[str], str],
) -> Result:
    result = Result(name, title, duration, window)
    for sample in load.samples:
        result.requests[sample.kind] += 1
        if not sample.ok:
            reason = str(sample.status) if sample.status is not None else (sample.error or "?")
            result.failures.setdefault(sample.kind, Counter())[reason] += 1
        if sample.kind == "read" and sample.served_by:
            result.served_by[sample.served_by] += 1
    start, end = window
    during = [s for s in load.samples if start <= s.started <= end]
    for kind in ("read", "write"):
        result.p99_ms_during_fault[kind] = _p99([s for s in during if s.kind == kind])
    failed_writes = [s for s in load.of("write") if not s.ok]
    reads = load.of("read")
    if reads:
        result.max_read_ms = round(max(s.latency for s in reads) * 1000, 1)
    result.unavailable_without_retry_after = sum(
        1 for s in load.samples if s.status == 503 and not s.retry_after
    )
    if failed_writes:
        result.max_failed_write_ms = round(max(s.latency for s in failed_writes) * 1000, 1)
        result.p50_failed_write_ms = _percentile(failed_writes, 0.5)
    result.p50_ms_before_fault = _percentile([s for s in load.samples if s.started < start], 0.5)
    staleness = [
        s.staleness for s in load.of("heartbeat_read") if s.staleness is not None and on_replica(s)
    ]
    if staleness:
        result.max_replica_staleness = round(max(staleness), 2)
    result.acknowledged_writes = len(load.acknowledged_ids)
    result.missing_acknowledged = missing_acknowledged(load, sql_on_writer)
    return result


def _to_thread(fn: Callable[[], object]) -> asyncio.Future[object]:
    return asyncio.ensure_future(asyncio.to_thread(fn))


@dataclass
class Fault:
    """One scenario: break something at `fault` s, repair it at `recovery` s, under load."""

    name: str
    title: str
    fault: float
    recovery: float
    duration: float
    break_it: Callable[[Stage[Cluster]], object]
    repair_it: Callable[[Stage[Cluster]], object]
    detected: Callable[[Load, float], float | None]
    recovered: Callable[[Load, float], float | None]
    note: str
    writer: Callable[[Stage[Cluster]], Callable[[str], str]] = lambda stage: (
        lambda q: stage.cluster.primary().sql(q, dbname="trackr")
    )
    server_env: dict[str, str] = field(default_factory=dict)
    repair_on_teardown: bool = False

    def run(self, base: Path) -> Result:
        stage = prepare(base, self.server_env)

        async def script(load: Load, t0: float) -> None:
            await sleep_until(t0, self.fault)
            mark(load, t0, "fault")
            await _to_thread(lambda: self.break_it(stage))
            await sleep_until(t0, self.recovery)
            mark(load, t0, "recovery")
            await _to_thread(lambda: self.repair_it(stage))

        try:
            load = asyncio.run(drive(stage, self.duration, script))
            window = (self.fault, self.recovery)
            result = summarize(
                self.name, self.title, self.duration, load, stage, window, self.writer(stage)
            )
            result.detect_seconds = self.detected(load, load.marks["fault"])
            result.recover_seconds = self.recovered(load, load.marks["recovery"])
            result.notes.append(self.note)
            return result
        finally:
            if self.repair_on_teardown:  # e.g. a frozen node: stopping it would hang
                self.repair_it(stage)
            stage.server.stop()
            stage.cluster.destroy()


def _reads_to_primary(load: Load, after: float) -> float | None:
    return _first(load.of("read"), after, lambda s: s.served_by == "primary")


def _reads_back_on_replica(load: Load, after: float) -> float | None:
    return _first(load.of("read"), after, on_replica)


def _replica(stage: Stage[Cluster]) -> Node:
    return stage.cluster.replicas()[0]


REPLICA_STOPPED = Fault(
    "replica_stopped",
    "Replica stopped (pg_ctl stop -m immediate)",
    3.0,
    8.0,
    12.0,
    break_it=lambda stage: _replica(stage).stop("immediate"),
    repair_it=lambda stage: _replica(stage).start(),
    detected=_reads_to_primary,
    recovered=_reads_back_on_replica,
    note="detect: first plain read served by the primary after the stop; "
    "recover: first plain read back on the replica after the restart",
)

REPLAY_PAUSED = Fault(
    "replay_paused",
    "Replay paused on the replica (pg_wal_replay_pause)",
    3.0,
    9.0,
    13.0,
    break_it=lambda stage: _replica(stage).sql("SELECT pg_wal_replay_pause()"),
    repair_it=lambda stage: _replica(stage).sql("SELECT pg_wal_replay_resume()"),
    detected=_reads_to_primary,
    recovered=_reads_back_on_replica,
    note=f"lag limit {LAG_LIMIT_SECONDS:g} s; detect: first plain read moved to the primary "
    "after the pause (so it includes reaching the limit)",
    server_env={"REPLICA_MAX_LAG_SECONDS": str(LAG_LIMIT_SECONDS)},
)

PRIMARY_STOPPED = Fault(
    "primary_stopped",
    "Primary stopped, then the replica promoted (pg_promote)",
    3.0,
    8.0,
    13.0,
    break_it=lambda stage: stage.cluster.primary().stop("immediate"),
    repair_it=lambda stage: _replica(stage).sql("SELECT pg_promote(wait => true)"),
    detected=lambda load, after: _first(load.of("write"), after, lambda s: s.status == 503),
    recovered=lambda load, after: _first(load.of("write"), after, lambda s: s.ok),
    note="detect: first write refused with 503 after the stop; recover: first acknowledged "
    "write after pg_promote (no API restart)",
    writer=lambda stage: lambda q: _replica(stage).sql(q, dbname="trackr"),
)

REPLICA_HUNG = Fault(
    "replica_hung",
    "Replica hung (SIGSTOP on all its processes)",
    3.0,
    8.0,
    12.0,
    break_it=lambda stage: _replica(stage).freeze(),
    repair_it=lambda stage: _replica(stage).thaw(),
    detected=_reads_to_primary,
    recovered=_reads_back_on_replica,
    note="a read already on the hung replica waits out one REPLICA_READ_TIMEOUT_SECONDS "
    "(2 s), then takes the replica out of rotation and moves to the primary; new reads avoid "
    "the replica from then on, or from the next check (0.5 s timeout)",
    repair_on_teardown=True,
)


def replica_stopped(base: Path) -> Result:
    """1. The replica is stopped hard, then restarted."""
    return REPLICA_STOPPED.run(base)


def replay_paused(base: Path) -> Result:
    """2. Replay is paused on the replica: lag grows past the limit, then replay resumes."""
    return REPLAY_PAUSED.run(base)


def primary_stopped(base: Path) -> Result:
    """3. The primary is stopped hard; later the replica is promoted (multi-host DATABASE_URL)."""
    return PRIMARY_STOPPED.run(base)


def replica_hung(base: Path) -> Result:
    """5. The replica hangs (SIGSTOP on every process): open connections stop answering."""
    return REPLICA_HUNG.run(base)


def connections_killed(base: Path) -> Result:
    """4. Every API connection on every node is terminated, three times, a second apart."""
    stage = prepare(base)
    nodes = [stage.cluster.primary(), *stage.cluster.replicas()]
    fault, duration = 3.0, 9.0
    kill = (
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name = 'trackr-api'"
    )

    async def script(load: Load, t0: float) -> None:
        await sleep_until(t0, fault)
        mark(load, t0, "fault")
        for round_ in range(3):
            await sleep_until(t0, fault + round_)
            for node in nodes:
                await _to_thread(lambda node=node: node.sql(kill))  # type: ignore[misc]
        mark(load, t0, "recovery")

    try:
        load = asyncio.run(drive(stage, duration, script))
        result = summarize(
            "connections_killed",
            "All API connections killed (pg_terminate_backend)",
            duration,
            load,
            stage,
            (fault, load.marks["recovery"] + 1.0),
            lambda q: stage.cluster.primary().sql(q, dbname="trackr"),
        )
        failed = [s for s in load.samples if not s.ok and s.started >= fault]
        result.recover_seconds = round(max(s.started for s in failed) - fault, 2) if failed else 0.0
        result.notes.append(
            "recover: time from the first kill to the last failed request (0 when nothing failed)"
        )
        return result
    finally:
        stage.server.stop()
        stage.cluster.destroy()


@dataclass
class RefusalTiming:
    first_write_ms: float
    p50_ms: float
    p99_ms: float
    samples: int


def refused_write_latency(base: Path, samples: int = 100) -> RefusalTiming:
    """Without load: how fast a write is refused once the primary is dead and the breaker open."""
    stage = prepare(base)
    auth = {"Authorization": f"Bearer {stage.write_token}"}
    body = {"category": "games", "name": "probe", "price": 1, "attributes": {"platform": "GB"}}
    try:
        stage.cluster.primary().stop("immediate")
        with httpx.Client(base_url=stage.server.base_url, timeout=10) as client:
            started = time.perf_counter()
            first = client.post("/api/products", json=body, headers=auth)
            first_ms = (time.perf_counter() - started) * 1000
            assert first.status_code == 503, first.text
            timings: list[Sample] = []
            for _ in range(samples):
                started = time.perf_counter()
                response = client.post("/api/products", json=body, headers=auth)
                latency = time.perf_counter() - started
                timings.append(Sample("write", 0.0, latency, response.status_code))
        return RefusalTiming(
            round(first_ms, 1), _percentile(timings, 0.5), _percentile(timings, 0.99), samples
        )
    finally:
        stage.server.stop()
        stage.cluster.destroy()


SCENARIOS: dict[str, Callable[[Path], Result]] = {
    "replica_stopped": replica_stopped,
    "replay_paused": replay_paused,
    "primary_stopped": primary_stopped,
    "connections_killed": connections_killed,
    "replica_hung": replica_hung,
}
